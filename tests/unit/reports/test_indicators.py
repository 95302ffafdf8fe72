"""The KPIs as pure functions over rows (docs/kpis.md)."""

from __future__ import annotations

from datetime import datetime, timedelta

from hotline.calendar import SHANGHAI
from hotline.reports.indicators import (
    AssignmentRow,
    CallRow,
    RatingRow,
    Ratio,
    Rows,
    TicketRow,
    answered_in_time,
    callback,
    connection,
    extension,
    first_contact,
    indicators,
    on_time,
    rank_units,
    reopen,
    returns,
    satisfaction,
    score,
    sign_on_time,
    split,
)

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)
H = timedelta(hours=1)


def call(queued: bool = True, answered: bool = True, wait: float | None = 5) -> CallRow:
    return CallRow(NOW - 10 * H, queued, answered, wait)


def assignment(
    department: str = "CGJ",
    *,
    lead: bool = True,
    status: str = "replied",
    signed: float | None = 1,
    replied: float | None = 20,
    due: float = 48,
    extensions: int = 0,
    returned: bool = False,
    start: datetime = NOW - 100 * H,
) -> AssignmentRow:
    return AssignmentRow(
        ticket_id=1,
        department=department,
        lead=lead,
        status=status,
        dispatched_at=start,
        sign_due_at=start + 2 * H,
        signed_at=None if signed is None else start + signed * H,
        due_at=start + due * H,
        replied_at=None if replied is None else start + replied * H,
        extensions_granted=extensions,
        return_requested=returned,
        division="410503",
        category="municipal",
    )


def ticket(
    *, answered: bool = False, replied: bool = True, reopened: int = 0, visited: bool = False
) -> TicketRow:
    return TicketRow(
        id=1,
        received_at=NOW - 100 * H,
        status="closed",
        division="410503",
        category="municipal",
        department="CGJ",
        answered_directly=answered,
        replied=replied,
        reopen_count=reopened,
        visited=visited,
    )


def rating(level: int, *, void: bool = False, department: str = "CGJ") -> RatingRow:
    return RatingRow(1, department, level, void, NOW - H, "410503", "municipal")


def test_calls_answered_in_time_and_connected() -> None:
    calls = [call(wait=3), call(wait=15), call(wait=16), call(answered=False, wait=40),
             call(queued=False, answered=False, wait=None)]  # fmt: skip
    assert answered_in_time(calls, 15) == Ratio(2, 4)
    assert connection(calls) == Ratio(3, 4)


def test_sign_on_time_counts_only_what_is_decided() -> None:
    rows = [
        assignment(signed=1),  # on time
        assignment(signed=3),  # late
        assignment(signed=None, status="dispatched"),  # unsigned, past the sign-for time
        assignment(signed=None, status="dispatched", start=NOW - 0.5 * H),  # not due yet
        assignment(signed=None, status="closed"),  # closed unsigned (a co-handler): not counted
    ]
    assert sign_on_time(rows, NOW) == Ratio(1, 3)


def test_on_time_counts_leads_replied_by_due_or_overdue() -> None:
    rows = [
        assignment(replied=20, due=48),  # on time
        assignment(replied=60, due=48),  # late
        assignment(replied=None, status="in_progress", due=48),  # overdue, still open
        assignment(replied=None, status="in_progress", due=200),  # not due yet
        assignment(replied=20, due=48, lead=False),  # a co-handler
        assignment(replied=None, status="returned", due=48),  # handed back
    ]
    assert on_time(rows, NOW) == Ratio(1, 3)


def test_extension_and_return_rates() -> None:
    rows = [assignment(extensions=1), assignment(), assignment(returned=True),
            assignment(lead=False, returned=True)]  # fmt: skip
    assert extension(rows) == Ratio(1, 3)
    assert returns(rows) == Ratio(2, 4)


def test_reopen_callback_and_first_contact() -> None:
    rows = [
        ticket(answered=True, replied=False),
        ticket(reopened=1, visited=True),
        ticket(visited=True),
        ticket(replied=False),  # still with a unit
    ]
    assert reopen(rows) == Ratio(1, 3)
    assert callback(rows) == Ratio(2, 2)
    assert first_contact(rows) == Ratio(1, 4)


def test_satisfaction_is_levels_one_to_three_and_ignores_void_ratings() -> None:
    rows = [rating(1), rating(2), rating(3), rating(4), rating(5), rating(5, void=True)]
    assert satisfaction(rows) == Ratio(3, 5)
    assert satisfaction([]).rate is None


def test_groups_and_the_calls_only_overall() -> None:
    rows = Rows(
        calls=[call()],
        assignments=[assignment("CGJ"), assignment("GSGS", replied=60)],
        tickets=[ticket()],
        ratings=[rating(1, department="CGJ"), rating(5, department="GSGS")],
    )
    overall = indicators(rows, NOW)
    assert overall.rate("connection") == 1.0
    assert overall.rate("on_time") == 0.5
    parts = split(rows, "unit")
    cgj = indicators(parts["CGJ"], NOW, with_calls=False)
    assert cgj.values["connection"] is None
    assert cgj.rate("on_time") == 1.0 and cgj.rate("satisfaction") == 1.0
    assert indicators(parts["GSGS"], NOW).rate("satisfaction") == 0.0


def test_score_weights_and_penalties() -> None:
    values = indicators(Rows(assignments=[assignment()], ratings=[rating(1)]), NOW)
    assert score(values, {"on_time": 1, "satisfaction": 1}, 0, 2) == 100.0
    assert score(values, {"on_time": 1, "satisfaction": 1}, 3, 2) == 94.0
    assert score(values, {"return": 1}, 0, 2) == 100.0  # lower is better: 1 − 0
    empty = indicators(Rows(), NOW)
    assert score(empty, {"on_time": 1}, 0, 2) is None


def test_ranking_shares_ranks_and_lists_small_units_unranked() -> None:
    good = [assignment("A") for _ in range(5)]
    same = [assignment("B") for _ in range(5)]
    late = [assignment("C", replied=60) for _ in range(5)]
    few = [assignment("D")]
    groups = split(Rows(assignments=good + same + late + few, flags={"C": 1}), "unit")
    ranked = rank_units(groups, NOW, weights={"on_time": 1}, flag_penalty=2, min_assignments=5)
    assert [(r.department, r.rank, r.score) for r in ranked] == [
        ("A", 1, 100.0),
        ("B", 1, 100.0),
        ("C", 3, 0.0),
        ("D", None, 100.0),
    ]
    assert ranked[2].flags == 1
