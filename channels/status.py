"""Status answers for citizens on text channels (SMS, WeChat): short, no personal data.

Only the citizen's own tickets are answered: a ticket the phone number (or WeChat follower)
made or joined. Anyone else's number gets the same "not found" as a number that does not exist.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, and_, exists, false, select
from sqlalchemy.ext.asyncio import AsyncSession

from channels.config import Texts
from channels.notify import clip, cn_date
from hotline.domain.vocabulary import OPEN_STATUSES, Channel, Role, Status
from hotline.services.context import Context
from hotline.storage.citizens import Citizen, Contact
from hotline.storage.tickets import Assignment, Ticket, TicketEvent

#: open tickets listed at most in one answer
MAX_LISTED = 5
REPLY_CHARS = 120


def _owned(stmt: Select[Ticket], *, phone: str | None, openid: str | None) -> Select[Ticket]:
    if phone is not None:
        return stmt.join(Citizen, Citizen.id == Ticket.citizen_id).where(Citizen.phone == phone)
    if openid is not None:
        return stmt.where(
            exists().where(
                and_(
                    Contact.ticket_id == Ticket.id,
                    Contact.channel == Channel.WECHAT.value,
                    Contact.channel_ref.startswith(f"{openid}:", autoescape=True),
                )
            )
        )
    return stmt.where(false())


async def _detail(session: AsyncSession, ticket: Ticket, texts: Texts) -> str:
    status = Status(ticket.status)
    if status in (Status.REPLIED, Status.AWAITING_CALLBACK, Status.CLOSED):
        reply = await session.scalar(
            select(Assignment.reply_content)
            .where(
                Assignment.ticket_id == ticket.id,
                Assignment.role == Role.LEAD.value,
                Assignment.reply_content.is_not(None),
            )
            .order_by(Assignment.replied_at.desc())
            .limit(1)
        )
        if reply:
            return texts.status_reply.format(reply=clip(reply, REPLY_CHARS))
    if status in (Status.ANSWERED, Status.REJECTED):
        note = await session.scalar(
            select(TicketEvent.note)
            .where(TicketEvent.ticket_id == ticket.id, TicketEvent.action == status.value)
            .order_by(TicketEvent.seq.desc())
            .limit(1)
        )
        if note:
            return texts.status_reply.format(reply=clip(note, REPLY_CHARS))
    if status is Status.SUSPENDED and ticket.suspension:
        expected = datetime.fromisoformat(ticket.suspension["expected_by"])
        return texts.status_expected.format(expected_date=cn_date(expected))
    if ticket.due_at is not None and status in OPEN_STATUSES:
        return texts.status_due.format(due_date=cn_date(ticket.due_at))
    return ""


async def status_text(
    ctx: Context, number: str, *, phone: str | None = None, openid: str | None = None
) -> str:
    texts = ctx.config.channels.texts
    async with ctx.db.sessions() as session:
        stmt = _owned(select(Ticket).where(Ticket.number == number), phone=phone, openid=openid)
        ticket = (await session.scalars(stmt)).first()
        if ticket is None:
            return texts.not_found.format(number=number)
        detail = await _detail(session, ticket, texts)
    return texts.status.format(
        number=ticket.number, status=Status(ticket.status).label, detail=detail
    )


async def open_tickets_text(
    ctx: Context, *, phone: str | None = None, openid: str | None = None
) -> str:
    texts = ctx.config.channels.texts
    async with ctx.db.sessions() as session:
        stmt = _owned(
            select(Ticket).where(Ticket.status.in_([s.value for s in OPEN_STATUSES])),
            phone=phone,
            openid=openid,
        )
        tickets = list(
            (await session.scalars(stmt.order_by(Ticket.id.desc()).limit(MAX_LISTED))).all()
        )
    if not tickets:
        return texts.none_open
    items = "；".join(f"{t.number}（{Status(t.status).label}）" for t in tickets)
    return texts.open_list.format(items=items)
