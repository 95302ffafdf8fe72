"""Links a call to the ticket made for it, in the transaction that makes the ticket."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import update
from sqlalchemy.orm import Session

from hotline.domain.intake import IntakeValue
from hotline.domain.vocabulary import Channel
from hotline.services.hooks import IntakeHook, NewTicket
from hotline.storage.calls import Call


def link_call_tickets(session: Session, tickets: Sequence[NewTicket]) -> None:
    for ticket in tickets:
        call_sid = ticket.value.payload.get("CallSid")
        if ticket.value.channel is not Channel.PHONE or not isinstance(call_sid, str):
            continue
        session.execute(
            update(Call)
            .where(Call.call_sid == call_sid, Call.ticket_id.is_(None))
            .values(ticket_id=ticket.ticket_id)
        )


def _names_a_call(value: IntakeValue) -> bool:
    return value.channel is Channel.PHONE and isinstance(value.payload.get("CallSid"), str)


#: registered by ``hotline.bootstrap``
CALL_LINKS = IntakeHook(link_call_tickets, needed=_names_a_call)
