"""The tamper-evident ticket history: every event is chained by hash to the one before.

An event's hash is SHA-256 of the previous event's hash and the event's canonical content
(ticket number, sequence, time, actor, action, statuses, note, data); a ticket's first event
follows a fixed genesis value derived from its number. The ticket row keeps the head of its
chain. Changing, removing or reordering any stored event — even with the append-only triggers
bypassed by someone with database rights — breaks the chain from that event on, and
``hotline audit verify`` names the first broken link.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import select

from hotline.calendar import SHANGHAI
from hotline.services.context import Context
from hotline.storage.tickets import Ticket, TicketEvent


def genesis(number: str) -> str:
    return hashlib.sha256(f"hotline-ticket:{number}".encode()).hexdigest()


def canonical(number: str, values: Mapping[str, Any]) -> str:
    """The content an event's hash covers, as stable JSON (keys sorted, times in UTC)."""
    at = values["at"]
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise ValueError("an event's time must be aware")
    body = {
        "ticket": number,
        "seq": values["seq"],
        "at": at.astimezone(UTC).isoformat(),
        "actor": [values["actor_kind"], values["actor_id"], values.get("actor_department")],
        "action": values["action"],
        "before": values.get("status_before"),
        "after": values["status_after"],
        "note": values.get("note"),
        "data": values.get("data") or {},
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def link(prev: str, number: str, values: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(prev.encode())
    digest.update(canonical(number, values).encode())
    return digest.hexdigest()


def chained(prev: str | None, number: str, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` of a new event with its ``prev_hash`` and ``hash`` filled in."""
    before = prev or genesis(number)
    return {**values, "prev_hash": before, "hash": link(before, number, values)}


@dataclass(frozen=True)
class Broken:
    number: str
    seq: int
    reason: str


@dataclass(frozen=True)
class Verification:
    tickets: int
    events: int
    broken: Broken | None


def _values(e: TicketEvent) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "at": e.at,
        "actor_kind": e.actor_kind,
        "actor_id": e.actor_id,
        "actor_department": e.actor_department,
        "action": e.action,
        "status_before": e.status_before,
        "status_after": e.status_after,
        "note": e.note,
        "data": e.data,
    }


async def verify(ctx: Context, since: date | None = None, batch: int = 500) -> Verification:
    """Check the chains of every ticket with events since ``since`` (all tickets if None)."""
    async with ctx.db.sessions() as session:
        stmt = select(Ticket.id, Ticket.number, Ticket.version, Ticket.history_hash).order_by(
            Ticket.id
        )
        if since is not None:
            start = datetime.combine(since, time(0), tzinfo=SHANGHAI)
            touched = select(TicketEvent.ticket_id).where(TicketEvent.at >= start).distinct()
            stmt = stmt.where(Ticket.id.in_(touched))
        tickets = list(await session.execute(stmt))
        checked_events = 0
        for offset in range(0, len(tickets), batch):
            chunk = tickets[offset : offset + batch]
            events: dict[int, list[TicketEvent]] = {t.id: [] for t in chunk}
            for e in await session.scalars(
                select(TicketEvent)
                .where(TicketEvent.ticket_id.in_(list(events)))
                .order_by(TicketEvent.ticket_id, TicketEvent.seq)
            ):
                events[e.ticket_id].append(e)
            for t in chunk:
                broken = _check(t.number, t.version, t.history_hash, events[t.id])
                checked_events += len(events[t.id])
                if broken is not None:
                    return Verification(offset + chunk.index(t) + 1, checked_events, broken)
    return Verification(len(tickets), checked_events, None)


def _check(number: str, version: int, head: str | None, events: list[TicketEvent]) -> Broken | None:
    prev = genesis(number)
    for expected_seq, e in enumerate(events, start=1):
        if e.seq != expected_seq:
            return Broken(number, expected_seq, f"event {expected_seq} is missing")
        if e.prev_hash != prev:
            return Broken(number, e.seq, "does not follow the event before it")
        if e.hash != link(prev, number, _values(e)):
            return Broken(number, e.seq, "its content was changed after it was written")
        prev = e.hash
    if len(events) != version:
        return Broken(
            number,
            len(events) + 1,
            f"the ticket is at version {version} but has "
            f"{len(events)} events: later events are missing",
        )
    if head is not None and head != prev:
        return Broken(number, len(events), "the ticket's chain head does not match its last event")
    return None
