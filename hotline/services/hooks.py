"""Reactions that must be written in the same transaction as the change that causes them.

The outbox is the example: an SMS telling a citizen their ticket number is queued in the very
transaction that creates the ticket, so the message is neither lost (ticket without SMS) nor
invented (SMS without ticket). Channel adapters register hooks at bootstrap; the intake and
lifecycle services call them with their open session.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from hotline.domain.intake import IntakeValue
from hotline.domain.lifecycle import Event, TicketState
from hotline.storage.tickets import Ticket


@dataclass(frozen=True)
class NewTicket:
    """A ticket the intake service just created (not yet committed)."""

    ticket_id: int
    number: str
    contact_id: int
    citizen_id: int | None
    value: IntakeValue
    event: Event


@dataclass(frozen=True)
class TicketChange:
    """A lifecycle event just stored, with the ticket row after it (not yet committed)."""

    ticket: Ticket
    state: TicketState
    event: Event


#: Synchronous: the intake's batch runs as one unit of work, on SQLite's write thread or
#: through ``run_sync`` (``hotline.storage.db.Database.write``); such a hook may run on another
#: thread than the event loop and must touch nothing but the session and immutable settings.
IntakeHook = Callable[[Session, Sequence[NewTicket]], None]
EventHook = Callable[[AsyncSession, TicketChange], Awaitable[None]]


@dataclass
class Hooks:
    on_intake: list[IntakeHook] = field(default_factory=list)
    on_event: list[EventHook] = field(default_factory=list)
