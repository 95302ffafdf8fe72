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
IntakeWork = Callable[[Session, Sequence[NewTicket]], None]
#: NOTIFY messages (channel, payload) for new tickets, given their numbers and contacts
IntakeNotices = Callable[[Sequence[tuple[str, IntakeValue]]], list[tuple[str, str]]]
EventHook = Callable[[AsyncSession, TicketChange], Awaitable[None]]


@dataclass(frozen=True)
class IntakeHook:
    """What the intake's transaction does for the tickets it makes, beside writing them.

    On PostgreSQL the intake writes a batch of new contacts as one statement when it can
    (``hotline.services.intake``: no transaction around it, one round trip), which cannot run a
    hook's ``work`` on a session. A hook therefore says what it needs: ``needed`` tells whether
    ``work`` writes anything for a contact like this one (None: it may, for any; such a hook
    keeps every batch on the session's way); ``notices``, if given, is all that ``work`` does on
    PostgreSQL, as NOTIFY messages the one statement sends itself (the live events).
    """

    work: IntakeWork
    needed: Callable[[IntakeValue], bool] | None = None
    notices: IntakeNotices | None = None

    def __call__(self, session: Session, tickets: Sequence[NewTicket]) -> None:
        self.work(session, tickets)

    def quiet_for(self, values: Sequence[IntakeValue]) -> bool:
        """Whether the one statement may stand in for ``work`` with these contacts."""
        if self.notices is not None:
            return True
        return self.needed is not None and not any(self.needed(value) for value in values)


@dataclass
class Hooks:
    on_intake: list[IntakeHook] = field(default_factory=list)
    on_event: list[EventHook] = field(default_factory=list)
