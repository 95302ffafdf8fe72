"""Read side: tickets with their assignments, history and citizen, for the API and the console."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from hotline.domain.errors import InvalidField, NotFound
from hotline.domain.vocabulary import OPEN_STATUSES, Status
from hotline.services.context import Context
from hotline.storage.citizens import Citizen
from hotline.storage.tickets import Assignment, Ticket, TicketEvent

MAX_PAGE = 200


@dataclass(frozen=True)
class TicketView:
    ticket: Ticket
    assignments: list[Assignment]
    events: list[TicketEvent]
    citizen: Citizen | None
    merged_into: str | None


@dataclass(frozen=True)
class TicketFilter:
    status: Status | None = None
    department: str | None = None
    division: str | None = None
    overdue: bool | None = None
    #: a department principal sees only tickets ever assigned to it
    scope_department: str | None = None


@dataclass(frozen=True)
class Page:
    items: list[TicketView]
    next_cursor: str | None


def encode_cursor(ticket_id: int) -> str:
    return base64.urlsafe_b64encode(f"t:{ticket_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, value = raw.split(":", 1)
        if prefix != "t":
            raise ValueError(prefix)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidField("cursor", "无效的分页游标") from exc


async def _views(session: AsyncSession, tickets: list[Ticket]) -> list[TicketView]:
    if not tickets:
        return []
    ids = [t.id for t in tickets]
    events: dict[int, list[TicketEvent]] = {i: [] for i in ids}
    for e in await session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id.in_(ids)).order_by(TicketEvent.seq)
    ):
        events[e.ticket_id].append(e)
    citizen_ids = {t.citizen_id for t in tickets if t.citizen_id is not None}
    citizens: dict[int, Citizen] = {}
    if citizen_ids:
        found = await session.scalars(select(Citizen).where(Citizen.id.in_(citizen_ids)))
        citizens = {c.id: c for c in found}
    merged_ids = {t.merged_into_id for t in tickets if t.merged_into_id is not None}
    merged: dict[int, str] = {}
    if merged_ids:
        rows = await session.execute(
            select(Ticket.id, Ticket.number).where(Ticket.id.in_(merged_ids))
        )
        merged = {row.id: row.number for row in rows}
    return [
        TicketView(
            ticket=t,
            assignments=list(t.assignments),
            events=events[t.id],
            citizen=citizens.get(t.citizen_id) if t.citizen_id is not None else None,
            merged_into=merged.get(t.merged_into_id) if t.merged_into_id is not None else None,
        )
        for t in tickets
    ]


def _scoped(stmt: Select[Ticket], department: str | None) -> Select[Ticket]:
    if department is None:
        return stmt
    return stmt.where(
        exists().where(Assignment.ticket_id == Ticket.id, Assignment.department_code == department)
    )


async def get_ticket(
    ctx: Context, number: str, *, scope_department: str | None = None
) -> TicketView:
    async with ctx.db.reads() as session:
        stmt = _scoped(
            select(Ticket).options(selectinload(Ticket.assignments)).where(Ticket.number == number),
            scope_department,
        )
        ticket = (await session.scalars(stmt)).one_or_none()
        if ticket is None:
            raise NotFound(f"工单 {number} 不存在")
        return (await _views(session, [ticket]))[0]


async def list_tickets(
    ctx: Context, filters: TicketFilter, *, limit: int = 50, cursor: str | None = None
) -> Page:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidField("limit", f"必须在 1 到 {MAX_PAGE} 之间")
    stmt = _scoped(
        select(Ticket).options(selectinload(Ticket.assignments)), filters.scope_department
    )
    if filters.status is not None:
        stmt = stmt.where(Ticket.status == filters.status.value)
    if filters.division is not None:
        stmt = stmt.where(Ticket.division_code == filters.division)
    if filters.department is not None:
        stmt = stmt.where(
            exists().where(
                Assignment.ticket_id == Ticket.id,
                Assignment.department_code == filters.department,
            )
        )
    if filters.overdue is not None:
        now: datetime = ctx.clock.now()
        open_values = [s.value for s in OPEN_STATUSES]
        overdue = (
            (Ticket.due_at.is_not(None)) & (Ticket.due_at < now) & Ticket.status.in_(open_values)
        )
        stmt = stmt.where(overdue if filters.overdue else ~overdue)
    if cursor is not None:
        stmt = stmt.where(Ticket.id < decode_cursor(cursor))
    stmt = stmt.order_by(Ticket.id.desc()).limit(limit + 1)
    async with ctx.db.reads() as session:
        tickets = list((await session.scalars(stmt)).all())
        more = len(tickets) > limit
        tickets = tickets[:limit]
        views = await _views(session, tickets)
    return Page(views, encode_cursor(tickets[-1].id) if more and tickets else None)
