"""Links a call to the ticket made for it, in the transaction that makes the ticket."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import update
from sqlalchemy.orm import Session

from hotline.domain.vocabulary import Channel
from hotline.services.hooks import NewTicket
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
