"""The hotline's performance indicators (KPIs) as pure functions over rows (docs/kpis.md).

Every indicator is a ratio ``numerator / denominator`` over one period, kept as both counts so
that groups can be added up and a reader can check them. Who is counted:

* calls (电话): those that asked for an agent (joined the queue) in the period;
* assignments (派单): those dispatched in the period (a unit's own clock);
* tickets (工单): those received in the period;
* ratings (评价): those given in the period and not voided by an upheld appeal.

Only what is decided counts: an assignment whose sign-for or due time has not come yet is
neither on time nor late. The "满意" family is levels 1–3 (非常满意, 满意, 基本满意): the
satisfaction rate is their share of the period's ratings.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: indicator code → Chinese name, in the order reports show them
NAMES: dict[str, str] = {
    "answered_in_time": "15秒接通率",
    "connection": "24小时接通率",
    "sign_on_time": "按时签收率",
    "on_time": "按时办结率",
    "extension": "延期率",
    "return": "退回率",
    "reopen": "重办率",
    "callback": "回访率",
    "satisfaction": "满意率",
    "first_contact": "直接办结率",
}
#: indicators where a lower rate is better
LOWER_IS_BETTER = frozenset({"extension", "return", "reopen"})
#: rating levels of the "满意" family (1 非常满意, 2 满意, 3 基本满意)
SATISFIED_LEVELS = frozenset({1, 2, 3})
#: assignment statuses in which the unit still holds the work
ACTIVE = frozenset({"dispatched", "signed", "in_progress", "suspended", "return_pending"})


@dataclass(frozen=True)
class Ratio:
    numerator: int = 0
    denominator: int = 0

    @property
    def rate(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    def __add__(self, other: Ratio) -> Ratio:
        return Ratio(self.numerator + other.numerator, self.denominator + other.denominator)

    def as_dict(self) -> dict[str, Any]:
        rate = self.rate
        return {
            "numerator": self.numerator,
            "denominator": self.denominator,
            "rate": None if rate is None else round(rate, 4),
        }


# -- rows ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallRow:
    arrived_at: datetime
    queued: bool
    answered: bool
    wait_seconds: float | None


@dataclass(frozen=True)
class AssignmentRow:
    ticket_id: int
    department: str
    lead: bool
    status: str
    dispatched_at: datetime
    sign_due_at: datetime
    signed_at: datetime | None
    due_at: datetime
    replied_at: datetime | None
    extensions_granted: int
    #: the unit asked to return it (退回), whatever the centre decided
    return_requested: bool
    division: str | None = None
    category: str | None = None


@dataclass(frozen=True)
class TicketRow:
    id: int
    received_at: datetime
    status: str
    division: str | None
    category: str | None
    #: the unit that last led it (None: never dispatched)
    department: str | None
    #: 直接答复 by the centre at first contact
    answered_directly: bool
    #: a lead unit replied
    replied: bool
    reopen_count: int
    #: a return visit (回访) was made, reached or not
    visited: bool


@dataclass(frozen=True)
class RatingRow:
    ticket_id: int
    department: str | None
    level: int
    void: bool
    rated_at: datetime
    division: str | None = None
    category: str | None = None


# -- the indicators --------------------------------------------------------------------------


def answered_in_time(calls: Iterable[CallRow], seconds: float = 15) -> Ratio:
    """Callers who asked for an agent and were answered within ``seconds`` of joining the
    queue."""
    queued = [c for c in calls if c.queued]
    quick = sum(
        1 for c in queued if c.answered and c.wait_seconds is not None and c.wait_seconds <= seconds
    )
    return Ratio(quick, len(queued))


def connection(calls: Iterable[CallRow]) -> Ratio:
    """Callers who asked for an agent, at any hour, and were answered (接通率)."""
    queued = [c for c in calls if c.queued]
    return Ratio(sum(1 for c in queued if c.answered), len(queued))


def sign_on_time(assignments: Iterable[AssignmentRow], now: datetime) -> Ratio:
    """Signed for by the sign-for time; an unsigned one counts as late once that time passed
    while the unit still held it."""
    on_time = decided = 0
    for a in assignments:
        if a.signed_at is not None:
            decided += 1
            on_time += a.signed_at <= a.sign_due_at
        elif a.status in ACTIVE and a.sign_due_at < now:
            decided += 1
    return Ratio(on_time, decided)


def on_time(assignments: Iterable[AssignmentRow], now: datetime) -> Ratio:
    """Lead assignments replied by their due time (an approved extension moves it); one still
    unanswered after it is late."""
    done = decided = 0
    for a in assignments:
        if not a.lead:
            continue
        if a.replied_at is not None:
            decided += 1
            done += a.replied_at <= a.due_at
        elif a.status in ACTIVE and a.due_at < now:
            decided += 1
    return Ratio(done, decided)


def extension(assignments: Iterable[AssignmentRow]) -> Ratio:
    leads = [a for a in assignments if a.lead]
    return Ratio(sum(1 for a in leads if a.extensions_granted > 0), len(leads))


def returns(assignments: Iterable[AssignmentRow]) -> Ratio:
    items = list(assignments)
    return Ratio(sum(1 for a in items if a.return_requested), len(items))


def reopen(tickets: Iterable[TicketRow]) -> Ratio:
    """Tickets with a result (a reply, or a direct answer) that were reopened (重办)."""
    resolved = [t for t in tickets if t.replied or t.answered_directly]
    return Ratio(sum(1 for t in resolved if t.reopen_count > 0), len(resolved))


def callback(tickets: Iterable[TicketRow]) -> Ratio:
    """Replied tickets whose citizen got a return visit (回访)."""
    replied = [t for t in tickets if t.replied]
    return Ratio(sum(1 for t in replied if t.visited), len(replied))


def satisfaction(ratings: Iterable[RatingRow]) -> Ratio:
    """The "满意" family (levels 1–3) among ratings that stand (voided ones do not count)."""
    valid = [r for r in ratings if not r.void]
    return Ratio(sum(1 for r in valid if r.level in SATISFIED_LEVELS), len(valid))


def first_contact(tickets: Iterable[TicketRow]) -> Ratio:
    """Tickets answered directly at first contact, of all tickets received."""
    items = list(tickets)
    return Ratio(sum(1 for t in items if t.answered_directly), len(items))


# -- a group's table -------------------------------------------------------------------------


@dataclass
class Rows:
    """Everything one period's indicators are computed from."""

    calls: list[CallRow] = field(default_factory=list)
    assignments: list[AssignmentRow] = field(default_factory=list)
    tickets: list[TicketRow] = field(default_factory=list)
    ratings: list[RatingRow] = field(default_factory=list)
    #: marks on units' records in the period: department → count
    flags: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Indicators:
    values: dict[str, Ratio | None]
    tickets: int
    assignments: int
    ratings: int

    def rate(self, code: str) -> float | None:
        ratio = self.values.get(code)
        return ratio.rate if ratio is not None else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "tickets": self.tickets,
            "assignments": self.assignments,
            "ratings": self.ratings,
            "indicators": {
                code: None if ratio is None else ratio.as_dict()
                for code, ratio in self.values.items()
            },
        }


def indicators(
    rows: Rows, now: datetime, *, answer_seconds: float = 15, with_calls: bool = True
) -> Indicators:
    """All indicators of one group. Calls have no unit, place or category: a group other
    than the whole has ``None`` for them (``with_calls=False``)."""
    values: dict[str, Ratio | None] = {
        "answered_in_time": answered_in_time(rows.calls, answer_seconds) if with_calls else None,
        "connection": connection(rows.calls) if with_calls else None,
        "sign_on_time": sign_on_time(rows.assignments, now),
        "on_time": on_time(rows.assignments, now),
        "extension": extension(rows.assignments),
        "return": returns(rows.assignments),
        "reopen": reopen(rows.tickets),
        "callback": callback(rows.tickets),
        "satisfaction": satisfaction(rows.ratings),
        "first_contact": first_contact(rows.tickets),
    }
    return Indicators(
        values,
        tickets=len(rows.tickets),
        assignments=len(rows.assignments),
        ratings=sum(1 for r in rows.ratings if not r.void),
    )


Key = Callable[[Any], str | None]


def split(rows: Rows, by: str) -> dict[str, Rows]:
    """The rows of each unit (``by="unit"``), division or category. Tickets count for the unit
    that last led them; assignments for their own unit; ratings for the unit rated."""
    if by not in ("unit", "division", "category"):
        raise ValueError(by)
    keys: dict[str, tuple[Key, Key, Key]] = {
        "unit": (
            lambda t: t.department,
            lambda a: a.department,
            lambda r: r.department,
        ),
        "division": (lambda t: t.division, lambda a: a.division, lambda r: r.division),
        "category": (lambda t: t.category, lambda a: a.category, lambda r: r.category),
    }
    ticket_key, assignment_key, rating_key = keys[by]
    groups: dict[str, Rows] = defaultdict(Rows)
    for t in rows.tickets:
        groups[ticket_key(t) or ""].tickets.append(t)
    for a in rows.assignments:
        groups[assignment_key(a) or ""].assignments.append(a)
    for r in rows.ratings:
        groups[rating_key(r) or ""].ratings.append(r)
    if by == "unit":
        for department, count in rows.flags.items():
            groups[department].flags[department] = count
    return dict(groups)


# -- the annual ranking (条例第五十一条) ------------------------------------------------------


@dataclass(frozen=True)
class Ranked:
    department: str
    score: float | None
    #: 1, 2, ...; None for a unit with too few assignments to rank
    rank: int | None
    indicators: Indicators
    flags: int


def score(
    values: Indicators, weights: Mapping[str, float], flags: int, flag_penalty: float
) -> float | None:
    """100 × the weighted mean of the indicators that have data (lower-is-better ones as
    1 − rate), less ``flag_penalty`` per mark on the unit's record, never below 0."""
    total = weight = 0.0
    for code, w in weights.items():
        rate = values.rate(code)
        if rate is None or w <= 0:
            continue
        total += w * ((1 - rate) if code in LOWER_IS_BETTER else rate)
        weight += w
    if weight == 0:
        return None
    return round(max(0.0, 100 * total / weight - flag_penalty * flags), 2)


def rank_units(
    groups: Mapping[str, Rows],
    now: datetime,
    *,
    weights: Mapping[str, float],
    flag_penalty: float,
    min_assignments: int,
) -> list[Ranked]:
    """Units by score, best first; those with fewer than ``min_assignments`` follow, unranked."""
    scored: list[Ranked] = []
    for department, rows in groups.items():
        if not department:
            continue
        values = indicators(rows, now, with_calls=False)
        flags = rows.flags.get(department, 0)
        s = score(values, weights, flags, flag_penalty)
        scored.append(Ranked(department, s, None, values, flags))
    eligible = sorted(
        (r for r in scored if r.indicators.assignments >= min_assignments and r.score is not None),
        key=lambda r: (-(r.score or 0.0), -r.indicators.assignments, r.department),
    )
    others = sorted(
        (r for r in scored if r not in eligible),
        key=lambda r: (-r.indicators.assignments, r.department),
    )
    ranked: list[Ranked] = []
    previous: tuple[float | None, int] | None = None
    for i, r in enumerate(eligible, start=1):
        # equal scores share a rank (1, 2, 2, 4)
        rank = previous[1] if previous is not None and previous[0] == r.score else i
        ranked.append(Ranked(r.department, r.score, rank, r.indicators, r.flags))
        previous = (r.score, rank)
    return ranked + others


def sort_groups(groups: Mapping[str, Any], order: Sequence[str]) -> list[str]:
    """Group keys in reference order first, then the rest (and the unknown "") alphabetically."""
    known = [k for k in order if k in groups]
    rest = sorted(k for k in groups if k not in set(order))
    return known + rest
