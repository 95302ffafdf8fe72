"""Writing the append-only history and allocating ticket numbers (shared by every service)."""

from __future__ import annotations

import functools
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, insert
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.calendar import local_day
from hotline.domain.lifecycle import Actor, Event
from hotline.domain.numbers import format_number
from hotline.domain.vocabulary import ActorKind, Status
from hotline.services import audit
from hotline.storage.rows import RowQuery
from hotline.storage.tables import (
    TICKET_EVENTS,
    TICKET_NUMBER_SEQUENCES,
)
from hotline.storage.tickets import TicketEvent
from hotline.storage.upsert import dialect_insert


def event_values(seq: int, event: Event) -> dict[str, Any]:
    """The row of an event, without its ticket id (the hash chain covers these values)."""
    return {
        "seq": seq,
        "at": event.at,
        "actor_kind": event.actor.kind.value,
        "actor_id": event.actor.id,
        "actor_department": event.actor.department,
        "action": event.action,
        "status_before": event.status_before.value if event.status_before else None,
        "status_after": event.status_after.value,
        "note": event.note,
        "data": dict(event.data),
    }


_INSERT_EVENT = insert(TICKET_EVENTS)


def chained_event(prev_hash: str | None, number: str, seq: int, event: Event) -> dict[str, Any]:
    """The event's row with its place in the ticket's hash chain (``hotline.services.audit``)."""
    return audit.chained(prev_hash, number, event_values(seq, event))


async def append_event(session: AsyncSession, ticket_id: int, values: dict[str, Any]) -> None:
    conn = await session.connection()
    await conn.execute(_INSERT_EVENT, {"ticket_id": ticket_id, **values})


def event_from_row(row: TicketEvent) -> Event:
    return Event(
        action=row.action,
        at=row.at,
        actor=Actor(ActorKind(row.actor_kind), row.actor_id, row.actor_department),
        status_before=Status(row.status_before) if row.status_before else None,
        status_after=Status(row.status_after),
        note=row.note,
        data=row.data or {},
    )


async def reserve_ticket_numbers(
    session: AsyncSession, now: datetime, count: int = 1
) -> tuple[date, int]:
    """Reserve ``count`` consecutive numbers of the Shanghai day of ``now``.

    One atomic upsert with RETURNING bumps the day's counter; the caller's transaction holds
    the row until it commits, so concurrent writers get disjoint ranges. Returns the day and
    the first sequence number of the range.
    """
    conn = await session.connection()
    return await conn.run_sync(reserve_numbers, now, count)


def reserve_numbers(conn: Connection, now: datetime, count: int = 1) -> tuple[date, int]:
    """:func:`reserve_ticket_numbers` on a synchronous connection (the intake's batch)."""
    day = local_day(now)
    (row,) = _bump_sequence(conn.dialect.name).run(conn, {"day": f"{day:%Y%m%d}", "last": count})
    last = int(row.last)
    return day, last - count + 1


@functools.cache
def _bump_sequence(dialect: str) -> RowQuery:
    table = TICKET_NUMBER_SEQUENCES
    stmt = dialect_insert(dialect, table)
    return RowQuery(
        stmt.on_conflict_do_update(
            index_elements=[table.c.day], set_={"last": table.c.last + stmt.excluded.last}
        ).returning(table.c.last)
    )


async def next_ticket_number(session: AsyncSession, prefix: str, now: datetime) -> str:
    day, seq = await reserve_ticket_numbers(session, now)
    return format_number(prefix, day, seq)
