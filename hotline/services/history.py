"""Writing the append-only history and allocating ticket numbers (shared by every service)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.calendar import local_day
from hotline.domain.lifecycle import Actor, Event
from hotline.domain.numbers import format_number
from hotline.domain.vocabulary import ActorKind, Status
from hotline.storage.tickets import TicketEvent, TicketNumberSequence
from hotline.storage.upsert import dialect_insert, dialect_of


def event_values(ticket_id: int, seq: int, event: Event) -> dict[str, Any]:
    return {
        "ticket_id": ticket_id,
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


async def append_event(session: AsyncSession, ticket_id: int, seq: int, event: Event) -> None:
    await session.execute(insert(TicketEvent).values(**event_values(ticket_id, seq, event)))


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


async def next_ticket_number(session: AsyncSession, prefix: str, now: datetime) -> str:
    """Bump the day's counter atomically (an upsert with RETURNING) and format the number."""
    day = local_day(now)
    key = f"{day:%Y%m%d}"
    dialect = dialect_of(session)
    stmt = dialect_insert(dialect, TicketNumberSequence).values(day=key, last=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[TicketNumberSequence.day],
        set_={"last": TicketNumberSequence.last + 1},
    ).returning(TicketNumberSequence.last)
    seq = (await session.execute(stmt)).scalar_one()
    return format_number(prefix, day, int(seq))
