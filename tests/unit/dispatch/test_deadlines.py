"""Assignment clocks: sign-for, the 24-hour return window and the handling due time."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from dispatch.deadlines import assignment_clocks, extended_due, handling_limit
from hotline.calendar import SHANGHAI, WorkingCalendar
from hotline.config import TimeLimit, TimeLimitsConfig
from hotline.domain.vocabulary import TicketType, Urgency

CAL = WorkingCalendar()
AT = datetime(2026, 9, 30, 10, 0, tzinfo=SHANGHAI)  # the day before 国庆


def test_defaults_follow_article_50() -> None:
    clocks = assignment_clocks(
        CAL,
        TimeLimitsConfig(),
        AT,
        type_=TicketType.COMPLAINT,
        category=None,
        urgency=Urgency.NORMAL,
    )
    assert clocks.due_at.isoformat() == "2026-10-13T23:59:59+08:00"
    assert clocks.return_due_at == AT + timedelta(hours=24)  # clock hours, holiday or not
    assert clocks.sign_due_at == AT + timedelta(hours=2)
    assert clocks.basis == "default"


def test_henan_per_type_limits_and_category_overrides() -> None:
    policy = TimeLimitsConfig(
        by_type={
            TicketType.CONSULTATION: TimeLimit(working_days=3),
            TicketType.COMPLAINT: TimeLimit(working_days=10),
        },
        by_category={"power": TimeLimit(working_days=2)},
    )
    start = datetime(2026, 11, 23, 9, tzinfo=SHANGHAI)  # Monday

    def due(t: TicketType, category: str | None = None) -> str:
        c = assignment_clocks(
            CAL, policy, start, type_=t, category=category, urgency=Urgency.NORMAL
        )
        return c.due_at.date().isoformat()

    assert due(TicketType.CONSULTATION) == "2026-11-26"
    assert due(TicketType.COMPLAINT) == "2026-12-07"
    assert due(TicketType.HELP) == "2026-11-30"  # not overridden: the default 5
    assert due(TicketType.COMPLAINT, "power") == "2026-11-25"  # category beats type


def test_urgent_track_counts_clock_hours_through_holidays() -> None:
    clocks = assignment_clocks(
        CAL,
        TimeLimitsConfig(),
        AT,
        type_=TicketType.HELP,
        category="water",
        urgency=Urgency.URGENT,
    )
    assert clocks.due_at == AT + timedelta(hours=24)
    assert clocks.sign_due_at == AT + timedelta(hours=1)
    assert clocks.basis == "urgent"


def test_extension_moves_five_working_days_from_the_old_due_day() -> None:
    old = datetime(2026, 9, 30, 23, 59, 59, tzinfo=SHANGHAI)
    assert extended_due(CAL, TimeLimitsConfig(), old).isoformat() == "2026-10-13T23:59:59+08:00"


def test_limit_needs_exactly_one_unit() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        TimeLimit(working_days=3, hours=4)
    with pytest.raises(ValueError, match="exactly one"):
        TimeLimit()
    limit, basis = handling_limit(TimeLimitsConfig(), None, None, Urgency.NORMAL)
    assert limit.working_days == 5 and basis == "default"
