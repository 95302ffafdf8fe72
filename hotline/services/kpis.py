"""KPIs of a period, by unit, division or category, and the units' annual ranking (第五十一条).

The queries load plain rows for one period (:func:`load_rows`); the indicators themselves are
pure functions in :mod:`hotline.reports.indicators` (definitions in docs/kpis.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select

from hotline.reports.indicators import (
    AssignmentRow,
    CallRow,
    Indicators,
    Ranked,
    RatingRow,
    Rows,
    TicketRow,
    indicators,
    rank_units,
    sort_groups,
    split,
)
from hotline.reports.periods import Period
from hotline.services.context import Context
from hotline.services.reference import ReferenceData
from hotline.storage.calls import Call
from hotline.storage.evaluation import Rating, ReturnVisit, UnitFlag
from hotline.storage.tickets import Assignment, ReturnRequest, Ticket, TicketEvent

GROUPINGS = ("unit", "division", "category")


async def load_rows(ctx: Context, period: Period) -> Rows:
    """The period's calls, assignments, tickets, ratings and units' record marks."""
    start, end = period.start, period.end
    async with ctx.db.sessions() as session:
        calls = [
            CallRow(
                r.arrived_at, r.queued_at is not None, r.answered_at is not None, r.wait_seconds
            )
            for r in await session.execute(
                select(Call.arrived_at, Call.queued_at, Call.answered_at, Call.wait_seconds).where(
                    Call.arrived_at >= start, Call.arrived_at < end
                )
            )
        ]
        in_period = and_(Ticket.received_at >= start, Ticket.received_at < end)
        tickets = list(
            await session.execute(
                select(
                    Ticket.id,
                    Ticket.received_at,
                    Ticket.status,
                    Ticket.division_code,
                    Ticket.category_code,
                    Ticket.reopen_count,
                ).where(in_period)
            )
        )
        # every assignment of the period's tickets (to know who led them), and every one
        # dispatched in the period (each unit's own clock)
        assignments = list(
            await session.execute(
                select(
                    Assignment,
                    Ticket.division_code,
                    Ticket.category_code,
                )
                .join(Ticket, Ticket.id == Assignment.ticket_id)
                .where(
                    or_(
                        in_period,
                        and_(Assignment.dispatched_at >= start, Assignment.dispatched_at < end),
                    )
                )
            )
        )
        assignment_ids = [row[0].id for row in assignments]
        returned: set[str] = set()
        for chunk in _chunks(assignment_ids):
            returned |= set(
                await session.scalars(
                    select(ReturnRequest.assignment_id).where(
                        ReturnRequest.assignment_id.in_(chunk)
                    )
                )
            )
        answered = set(
            await session.scalars(
                select(TicketEvent.ticket_id)
                .join(Ticket, Ticket.id == TicketEvent.ticket_id)
                .where(in_period, TicketEvent.action == "answered")
            )
        )
        visited = set(
            await session.scalars(
                select(ReturnVisit.ticket_id)
                .join(Ticket, Ticket.id == ReturnVisit.ticket_id)
                .where(in_period)
            )
        )
        ratings = [
            RatingRow(r.ticket_id, r.department_code, r.level, r.void, r.rated_at, r.div, r.cat)
            for r in await session.execute(
                select(
                    Rating.ticket_id,
                    Rating.department_code,
                    Rating.level,
                    Rating.void,
                    Rating.rated_at,
                    Ticket.division_code.label("div"),
                    Ticket.category_code.label("cat"),
                )
                .join(Ticket, Ticket.id == Rating.ticket_id)
                .where(Rating.rated_at >= start, Rating.rated_at < end)
            )
        ]
        flags = {
            r.department_code: int(r.n)
            for r in await session.execute(
                select(UnitFlag.department_code, func.count().label("n"))
                .where(UnitFlag.flagged_at >= start, UnitFlag.flagged_at < end)
                .group_by(UnitFlag.department_code)
            )
        }
    lead_of: dict[int, tuple[datetime, str]] = {}
    replied: set[int] = set()
    assignment_rows: list[AssignmentRow] = []
    for a, division, category in assignments:
        if a.role == "lead":
            if a.replied_at is not None:
                replied.add(a.ticket_id)
            if a.status != "returned":
                known = lead_of.get(a.ticket_id)
                if known is None or (a.dispatched_at, a.department_code) > known:
                    lead_of[a.ticket_id] = (a.dispatched_at, a.department_code)
        if start <= a.dispatched_at < end:
            assignment_rows.append(
                AssignmentRow(
                    ticket_id=a.ticket_id,
                    department=a.department_code,
                    lead=a.role == "lead",
                    status=a.status,
                    dispatched_at=a.dispatched_at,
                    sign_due_at=a.sign_due_at,
                    signed_at=a.signed_at,
                    due_at=a.due_at,
                    replied_at=a.replied_at,
                    extensions_granted=a.extensions_granted,
                    return_requested=a.id in returned,
                    division=division,
                    category=category,
                )
            )
    ticket_rows = [
        TicketRow(
            id=t.id,
            received_at=t.received_at,
            status=t.status,
            division=t.division_code,
            category=t.category_code,
            department=lead_of[t.id][1] if t.id in lead_of else None,
            answered_directly=t.id in answered,
            replied=t.id in replied,
            reopen_count=t.reopen_count,
            visited=t.id in visited,
        )
        for t in tickets
    ]
    return Rows(calls, assignment_rows, ticket_rows, ratings, flags)


def _chunks(items: list[str], size: int = 500) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# -- the period's table ------------------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    key: str
    name: str
    values: Indicators

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key or None, "name": self.name, **self.values.as_dict()}


@dataclass(frozen=True)
class KpiTable:
    period: Period
    by: str | None
    overall: Indicators
    groups: list[Group]
    computed_at: datetime


def group_name(ref: ReferenceData, by: str, key: str) -> str:
    if not key:
        return {"unit": "未派单", "division": "未定区划", "category": "未分类"}[by]
    if by == "unit":
        unit = ref.departments.get(key)
        return unit.name if unit else key
    if by == "division":
        division = ref.divisions.get(key)
        return division.name if division else key
    category = ref.categories.get(key)
    return category.name if category else key


def _reference_order(ref: ReferenceData, by: str) -> list[str]:
    if by == "unit":
        return list(ref.departments)
    if by == "division":
        return [code for code, d in ref.divisions.items() if d.level == "county"]
    return list(ref.categories)


def table(ctx: Context, rows: Rows, period: Period, by: str | None, ref: ReferenceData) -> KpiTable:
    """The period's indicators overall and, with ``by``, per unit, division or category."""
    now = ctx.clock.now()
    seconds = ctx.config.reports.answer_seconds
    overall = indicators(rows, now, answer_seconds=seconds)
    groups: list[Group] = []
    if by is not None:
        parts = split(rows, by)
        for key in sort_groups(parts, _reference_order(ref, by)):
            values = indicators(parts[key], now, answer_seconds=seconds, with_calls=False)
            groups.append(Group(key, group_name(ref, by, key), values))
    return KpiTable(period, by, overall, groups, now)


async def kpis(ctx: Context, period: Period, by: str | None = None) -> KpiTable:
    if by is not None and by not in GROUPINGS:
        raise ValueError(by)
    rows = await load_rows(ctx, period)
    return table(ctx, rows, period, by, await ctx.reference.get())


async def ranking(ctx: Context, year: int) -> tuple[Period, list[Ranked]]:
    """The units' ranking for the annual performance review (第五十一条)."""
    period = Period.year(year)
    rows = await load_rows(ctx, period)
    policy = ctx.config.reports.ranking
    ranked = rank_units(
        split(rows, "unit"),
        ctx.clock.now(),
        weights=policy.weights,
        flag_penalty=policy.flag_penalty,
        min_assignments=policy.min_assignments,
    )
    return period, ranked
