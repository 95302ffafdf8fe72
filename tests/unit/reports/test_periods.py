"""Report periods: parsing, bounds in Asia/Shanghai, the previous period."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from hotline.calendar import SHANGHAI
from hotline.reports.periods import Kind, Period, PeriodError, parse_period


@pytest.mark.parametrize(
    ("text", "kind", "first", "stop", "previous"),
    [
        ("2026-11", Kind.MONTH, date(2026, 11, 1), date(2026, 12, 1), "2026-10"),
        ("2026-12", Kind.MONTH, date(2026, 12, 1), date(2027, 1, 1), "2026-11"),
        ("2026-W48", Kind.WEEK, date(2026, 11, 23), date(2026, 11, 30), "2026-W47"),
        ("2026-W01", Kind.WEEK, date(2025, 12, 29), date(2026, 1, 5), "2025-W52"),
        ("2026-11-26", Kind.DAY, date(2026, 11, 26), date(2026, 11, 27), "2026-11-25"),
        ("2026", Kind.YEAR, date(2026, 1, 1), date(2027, 1, 1), "2025"),
    ],
)
def test_periods(text: str, kind: Kind, first: date, stop: date, previous: str) -> None:
    period = parse_period(text)
    assert (period.kind, period.first, period.stop) == (kind, first, stop)
    assert period.label == text
    assert period.previous().label == previous
    assert period.start == datetime(first.year, first.month, first.day, tzinfo=SHANGHAI)
    assert period.start.utcoffset() is not None
    assert len(period.days) == (stop - first).days


@pytest.mark.parametrize(
    "text", ["", "2026-13", "2026-W54", "2026-02-30", "Nov 2026", "1999-01", "2026-1", "２０２６年"]
)
def test_bad_periods_say_what_is_expected(text: str) -> None:
    with pytest.raises(PeriodError):
        parse_period(text)


def test_titles_are_chinese() -> None:
    assert parse_period("2026-W48").title == "2026年第48周(11月23日—11月29日)"
    assert Period.containing(Kind.MONTH, date(2026, 11, 26)).title == "2026年11月"
