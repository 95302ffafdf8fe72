"""Hotspots (第五十条第三款): one issue, one place, reported again and again within days.

``clusters`` is the pure rule; ``refresh`` records clusters for supervisors (a scheduler job):
an open hotspot grows while reports keep coming; a studied one is left as it was, and a new
wave after it is a new hotspot.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from dispatch.config import HotspotConfig
from hotline.domain.vocabulary import Status
from hotline.services.context import Context
from hotline.storage.hotspots import Hotspot
from hotline.storage.tickets import Ticket

#: tickets that are not reports of a matter (the merged ones are counted by their target)
NOT_REPORTS = frozenset({Status.MERGED, Status.TRANSFERRED, Status.REJECTED})


@dataclass(frozen=True)
class Report:
    number: str
    category: str
    division: str
    street: str | None
    at: datetime
    weight: int = 1  # the ticket plus its repeat contacts


@dataclass(frozen=True)
class Cluster:
    category: str
    division: str
    place: str
    numbers: tuple[str, ...]
    reports: int
    first: datetime
    last: datetime


def clusters(reports: Iterable[Report], policy: HotspotConfig) -> list[Cluster]:
    groups: dict[tuple[str, str, str], list[Report]] = defaultdict(list)
    for r in reports:
        place = (r.street or "") if policy.by_street else ""
        groups[(r.category, r.division, place)].append(r)
    found = []
    for (category, division, place), items in groups.items():
        weight = sum(r.weight for r in items)
        if weight >= policy.min_reports:
            ordered = sorted(items, key=lambda r: r.at)
            found.append(
                Cluster(
                    category,
                    division,
                    place,
                    tuple(r.number for r in ordered),
                    weight,
                    ordered[0].at,
                    ordered[-1].at,
                )
            )
    return sorted(found, key=lambda c: (-c.reports, c.category, c.division, c.place))


async def reports_between(
    session: AsyncSession,
    start: datetime,
    end: datetime | None = None,
    *,
    by: InstrumentedAttribute[datetime] = Ticket.created_at,
) -> list[Report]:
    """The classified, placed matters that came in from ``start`` (to ``end``), as reports;
    ``by`` is the ticket's time that places it in the window."""
    excluded = [s.value for s in NOT_REPORTS]
    window = [by >= start]
    if end is not None:
        window.append(by < end)
    rows = await session.execute(
        select(
            Ticket.number,
            Ticket.category_code,
            Ticket.division_code,
            Ticket.street_code,
            Ticket.created_at,
            Ticket.repeat_count,
        ).where(
            *window,
            Ticket.category_code.is_not(None),
            Ticket.division_code.is_not(None),
            Ticket.status.not_in(excluded),
        )
    )
    return [
        Report(
            r.number,
            r.category_code or "",
            r.division_code or "",
            r.street_code,
            r.created_at,
            1 + r.repeat_count,
        )
        for r in rows
    ]


async def refresh(ctx: Context) -> list[Hotspot]:
    policy = ctx.config.hotspots
    now = ctx.clock.now()
    since = now - timedelta(days=policy.days)
    async with ctx.db.sessions() as session, session.begin():
        found = clusters(await reports_between(session, since), policy)
        flagged = []
        for c in found:
            open_one = await session.scalar(
                select(Hotspot).where(
                    Hotspot.category_code == c.category,
                    Hotspot.division_code == c.division,
                    Hotspot.place == c.place,
                    Hotspot.status == "open",
                )
            )
            if open_one is None:
                open_one = Hotspot(
                    category_code=c.category,
                    division_code=c.division,
                    place=c.place,
                    first_seen=c.first,
                    flagged_at=now,
                    status="open",
                )
                session.add(open_one)
            numbers = list(dict.fromkeys([*(open_one.ticket_numbers or []), *c.numbers]))
            open_one.ticket_numbers = numbers
            open_one.reports = max(open_one.reports or 0, c.reports)
            open_one.last_seen = c.last
            flagged.append(open_one)
        await session.flush()
        return flagged


async def mark_studied(ctx: Context, hotspot_id: int, note: str) -> Hotspot | None:
    async with ctx.db.sessions() as session, session.begin():
        spot = await session.get(Hotspot, hotspot_id)
        if spot is not None:
            spot.status = "studied"
            spot.note = note
        return spot
