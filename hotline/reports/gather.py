"""What a 社情民意 report holds, read from the database for one period (条例第四十七条).

Counts are of tickets *received* in the period (every ticket, whatever became of it), calls
that *arrived* in it, ratings *given* in it. The overdue list is of lead assignments whose due
time fell in the period (up to the moment the report is made) and that were not answered by
then; the bad-rating list is of the period's ratings of 不满意 and 非常不满意 that stand.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from dispatch import hotspots
from dispatch.hotspots import Cluster, clusters
from hotline.calendar import to_shanghai
from hotline.domain.vocabulary import Channel, TicketType
from hotline.reports.periods import Kind, Period
from hotline.services import kpis
from hotline.services.context import Context
from hotline.services.kpis import KpiTable
from hotline.services.privacy import redact, scrub
from hotline.services.ratings import LEVELS
from hotline.services.reference import ReferenceData
from hotline.storage.calls import Call
from hotline.storage.evaluation import BadRatingReview, Rating
from hotline.storage.hotspots import Hotspot
from hotline.storage.tickets import Assignment, Ticket


@dataclass(frozen=True)
class Count:
    key: str
    name: str
    count: int
    previous: int = 0

    @property
    def change(self) -> float | None:
        """Relative change against the previous period (None when it had none)."""
        return (self.count - self.previous) / self.previous if self.previous else None


@dataclass(frozen=True)
class Point:
    """One step of the trend: a day (or, in a daily report, an hour)."""

    label: str
    count: int
    previous: int
    #: after the moment the report was made (a period not over yet): not drawn
    future: bool = False


@dataclass(frozen=True)
class HotspotRow:
    category: str
    division: str
    place: str
    reports: int
    first: datetime
    last: datetime
    numbers: tuple[str, ...]
    status: str  # open | studied | new (found in the period, not yet recorded)


@dataclass(frozen=True)
class OverdueRow:
    number: str
    category: str
    department: str
    due_at: datetime
    replied_at: datetime | None
    #: hours past the due time, to the reply or to the report's moment
    hours: float


@dataclass(frozen=True)
class BadRatingRow:
    number: str
    category: str
    department: str
    level: str
    rated_at: datetime
    review: str
    comment: str | None


@dataclass(frozen=True)
class Keyword:
    word: str
    weight: float
    tickets: int
    example: str


@dataclass
class ReportData:
    period: Period
    previous: Period
    generated_at: datetime
    city: str
    #: the moment counts run to: the end of the period, or now for a period not over yet
    as_of: datetime
    tickets: int = 0
    tickets_previous: int = 0
    calls: int = 0
    calls_answered: int = 0
    calls_previous: int = 0
    by_channel: list[Count] = field(default_factory=list)
    by_type: list[Count] = field(default_factory=list)
    by_category: list[Count] = field(default_factory=list)
    by_division: list[Count] = field(default_factory=list)
    trend: list[Point] = field(default_factory=list)
    trend_unit: str = "日"
    ratings: list[Count] = field(default_factory=list)
    hotspots: list[HotspotRow] = field(default_factory=list)
    overdue: list[OverdueRow] = field(default_factory=list)
    overdue_total: int = 0
    bad_ratings: list[BadRatingRow] = field(default_factory=list)
    bad_ratings_total: int = 0
    keywords: list[Keyword] = field(default_factory=list)
    #: the texts keywords are drawn from (scrubbed), not shown as such
    texts: list[str] = field(default_factory=list)
    #: names of places, left out of the keywords (volumes by division show them)
    places: list[str] = field(default_factory=list)
    kpis: KpiTable | None = None
    unit_kpis: KpiTable | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def change(self) -> float | None:
        if not self.tickets_previous:
            return None
        return (self.tickets - self.tickets_previous) / self.tickets_previous


def _counts(
    now: Counter[str], before: Counter[str], name: dict[str, str], unknown: str
) -> list[Count]:
    keys = sorted(set(now) | set(before), key=lambda k: (-now[k], -before[k], k))
    return [Count(k, name.get(k, k) if k else unknown, now[k], before[k]) for k in keys]


async def _ticket_rows(
    ctx: Context, period: Period
) -> list[tuple[datetime, str, str | None, str | None, str | None, str]]:
    async with ctx.db.sessions() as session:
        rows = await session.execute(
            select(
                Ticket.received_at,
                Ticket.origin_channel,
                Ticket.type,
                Ticket.category_code,
                Ticket.division_code,
                Ticket.content,
            ).where(Ticket.received_at >= period.start, Ticket.received_at < period.end)
        )
        return [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]


async def gather(ctx: Context, period: Period) -> ReportData:
    """Everything but the keywords (:mod:`hotline.reports.keywords`) and the charts."""
    now = ctx.clock.now()
    ref = await ctx.reference.get()
    previous = period.previous()
    data = ReportData(
        period=period,
        previous=previous,
        generated_at=now,
        city=ctx.config.city.name,
        as_of=min(now, period.end),
    )
    if now < period.end:
        data.notes.append("统计周期尚未结束，数据截至报告生成时。")
    current = await _ticket_rows(ctx, period)
    before = await _ticket_rows(ctx, previous)
    data.tickets, data.tickets_previous = len(current), len(before)
    channels = {c.value: c.label for c in Channel}
    data.by_channel = _counts(
        Counter(r[1] for r in current), Counter(r[1] for r in before), channels, "未知渠道"
    )
    types = {t.value: t.value for t in TicketType}
    data.by_type = _counts(
        Counter(r[2] or "" for r in current), Counter(r[2] or "" for r in before), types, "未分类"
    )
    data.by_category = _counts(
        Counter(r[3] or "" for r in current),
        Counter(r[3] or "" for r in before),
        {code: c.name for code, c in ref.categories.items()},
        "未分类",
    )
    data.by_division = _counts(
        Counter(r[4] or "" for r in current),
        Counter(r[4] or "" for r in before),
        {code: d.name for code, d in ref.divisions.items()},
        "未定区划",
    )
    data.trend, data.trend_unit = _trend(period, previous, current, before, data.as_of)
    data.texts = [scrub(r[5]) or "" for r in current if r[5]]
    data.places = sorted(_place_words(ref))
    await _calls(ctx, data)
    await _ratings(ctx, data)
    await _hotspots(ctx, data, ref)
    await _overdue(ctx, data, ref)
    await _bad_ratings(ctx, data, ref)
    rows = await kpis.load_rows(ctx, period)
    data.kpis = kpis.table(ctx, rows, period, None, ref)
    data.unit_kpis = kpis.table(ctx, rows, period, "unit", ref)
    return data


def _trend(
    period: Period,
    previous: Period,
    current: list[tuple[datetime, str, str | None, str | None, str | None, str]],
    before: list[tuple[datetime, str, str | None, str | None, str | None, str]],
    as_of: datetime,
) -> tuple[list[Point], str]:
    local = to_shanghai(as_of)
    if period.kind is Kind.DAY:
        now_hours = Counter(to_shanghai(r[0]).hour for r in current)
        then_hours = Counter(to_shanghai(r[0]).hour for r in before)
        late = period.first == local.date()
        return [
            Point(f"{h}时", now_hours[h], then_hours[h], late and h > local.hour) for h in range(24)
        ], "时"
    if period.kind is Kind.YEAR:
        now_months = Counter(to_shanghai(r[0]).month for r in current)
        then_months = Counter(to_shanghai(r[0]).month for r in before)
        return [
            Point(
                f"{m}月",
                now_months[m],
                then_months[m],
                period.first.year == local.year and m > local.month,
            )
            for m in range(1, 13)
        ], "月"
    now_days = Counter(to_shanghai(r[0]).date() for r in current)
    then_days = Counter(to_shanghai(r[0]).date() for r in before)
    old = previous.days
    points = []
    for i, day in enumerate(period.days):
        earlier: date | None = old[i] if i < len(old) else None
        points.append(
            Point(
                f"{day.month}/{day.day}",
                now_days[day],
                then_days[earlier] if earlier is not None else 0,
                day > local.date(),
            )
        )
    return points, "日"


async def _calls(ctx: Context, data: ReportData) -> None:
    async with ctx.db.sessions() as session:
        for period, answered_too in ((data.period, True), (data.previous, False)):
            row = (
                await session.execute(
                    select(func.count(), func.count(Call.answered_at)).where(
                        Call.arrived_at >= period.start, Call.arrived_at < period.end
                    )
                )
            ).one()
            if answered_too:
                data.calls, data.calls_answered = int(row[0]), int(row[1])
            else:
                data.calls_previous = int(row[0])


async def _ratings(ctx: Context, data: ReportData) -> None:
    counts: dict[Period, Counter[int]] = {}
    async with ctx.db.sessions() as session:
        for period in (data.period, data.previous):
            rows = await session.execute(
                select(Rating.level, func.count())
                .where(
                    Rating.rated_at >= period.start,
                    Rating.rated_at < period.end,
                    Rating.void.is_(False),
                )
                .group_by(Rating.level)
            )
            counts[period] = Counter({int(r[0]): int(r[1]) for r in rows})
    now, before = counts[data.period], counts[data.previous]
    data.ratings = [
        Count(str(level), name, now[level], before[level]) for level, name in LEVELS.items()
    ]


async def _hotspots(ctx: Context, data: ReportData, ref: ReferenceData) -> None:
    """Hotspots recorded by the scheduler that were active in the period, and clusters of the
    period itself (one matter, one place, reported again and again) not recorded yet."""
    period = data.period
    rows: list[HotspotRow] = []
    seen: set[tuple[str, str, str]] = set()
    async with ctx.db.sessions() as session:
        for h in await session.scalars(
            select(Hotspot)
            .where(Hotspot.last_seen >= period.start, Hotspot.first_seen < period.end)
            .order_by(Hotspot.reports.desc(), Hotspot.id)
        ):
            seen.add((h.category_code, h.division_code, h.place))
            rows.append(
                HotspotRow(
                    _category(ref, h.category_code),
                    _division(ref, h.division_code),
                    _division(ref, h.place) if h.place else "",
                    h.reports,
                    h.first_seen,
                    h.last_seen,
                    tuple(h.ticket_numbers or ()),
                    h.status,
                )
            )
        reports = await hotspots.reports_between(
            session, period.start, period.end, by=Ticket.received_at
        )
    fresh: list[Cluster] = [
        c
        for c in clusters(reports, ctx.config.hotspots)
        if (c.category, c.division, c.place) not in seen
    ]
    for c in fresh:
        rows.append(
            HotspotRow(
                _category(ref, c.category),
                _division(ref, c.division),
                _division(ref, c.place) if c.place else "",
                c.reports,
                c.first,
                c.last,
                c.numbers,
                "new",
            )
        )
    rows.sort(key=lambda h: (-h.reports, h.category, h.division, h.place))
    data.hotspots = rows[: ctx.config.reports.list_limit]


async def _overdue(ctx: Context, data: ReportData, ref: ReferenceData) -> None:
    period, as_of = data.period, data.as_of
    async with ctx.db.sessions() as session:
        rows = await session.execute(
            select(
                Ticket.number,
                Ticket.category_code,
                Assignment.department_code,
                Assignment.due_at,
                Assignment.replied_at,
                Assignment.status,
            )
            .join(Ticket, Ticket.id == Assignment.ticket_id)
            .where(
                Assignment.role == "lead",
                Assignment.due_at >= period.start,
                Assignment.due_at < as_of,
            )
        )
        items = []
        for number, category, unit, due, replied, status in rows:
            if replied is not None:
                if replied <= due:
                    continue
                end = replied
            elif status in ("returned", "closed"):
                continue  # handed back or closed without a reply of its own: not this unit's
            else:
                end = as_of
            items.append(
                OverdueRow(
                    number,
                    _category(ref, category),
                    _unit(ref, unit),
                    due,
                    replied,
                    round((end - due) / timedelta(hours=1), 1),
                )
            )
    items.sort(key=lambda o: (-o.hours, o.number))
    data.overdue_total = len(items)
    data.overdue = items[: ctx.config.reports.list_limit]


async def _bad_ratings(ctx: Context, data: ReportData, ref: ReferenceData) -> None:
    period = data.period
    reviews = {"pending": "待复核", "rectify": "已责令整改", "explained": "已解释说明"}
    async with ctx.db.sessions() as session:
        rows = await session.execute(
            select(
                Ticket.number,
                Ticket.category_code,
                Rating.department_code,
                Rating.level,
                Rating.rated_at,
                BadRatingReview.status,
                Rating.comment,
            )
            .join(Ticket, Ticket.id == Rating.ticket_id)
            .outerjoin(BadRatingReview, BadRatingReview.rating_id == Rating.id)
            .where(
                Rating.rated_at >= period.start,
                Rating.rated_at < period.end,
                Rating.bad.is_(True),
                Rating.void.is_(False),
            )
            .order_by(Rating.rated_at, Rating.id)
        )
        items = [
            BadRatingRow(
                number,
                _category(ref, category),
                _unit(ref, unit),
                LEVELS.get(level, str(level)),
                rated_at,
                reviews.get(review or "", "—"),
                redact(comment),
            )
            for number, category, unit, level, rated_at, review, comment in rows
        ]
    data.bad_ratings_total = len(items)
    data.bad_ratings = items[: ctx.config.reports.list_limit]


def _place_words(ref: ReferenceData) -> set[str]:
    words: set[str] = set()
    for d in ref.divisions.values():
        for name in (d.name, *d.aliases):
            words.add(name)
            for suffix in ("街道", "区", "县", "市", "镇", "乡"):
                if name.endswith(suffix) and len(name) > len(suffix) + 1:
                    words.add(name.removesuffix(suffix))
    return words


def _category(ref: ReferenceData, code: str | None) -> str:
    found = ref.categories.get(code or "")
    return found.name if found else (code or "未分类")


def _division(ref: ReferenceData, code: str | None) -> str:
    found = ref.divisions.get(code or "")
    return found.name if found else (code or "未定区划")


def _unit(ref: ReferenceData, code: str | None) -> str:
    found = ref.departments.get(code or "")
    return found.name if found else (code or "—")
