"""The working-day calendar against the State Council's 2026 schedule, and the 2027 fallback."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotline.calendar import SHANGHAI, WorkingCalendar, parse_instant

# 国务院办公厅关于2026年部分节假日安排的通知
HOLIDAYS_2026 = {
    "元旦": [date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3)],
    "春节": [date(2026, 2, d) for d in range(15, 24)],
    "清明节": [date(2026, 4, 4), date(2026, 4, 5), date(2026, 4, 6)],
    "劳动节": [date(2026, 5, d) for d in range(1, 6)],
    "端午节": [date(2026, 6, 19), date(2026, 6, 20), date(2026, 6, 21)],
    "中秋节": [date(2026, 9, 25), date(2026, 9, 26), date(2026, 9, 27)],
    "国庆节": [date(2026, 10, d) for d in range(1, 8)],
}
MAKEUP_WORKDAYS_2026 = [
    date(2026, 1, 4),  # Sunday, for 元旦
    date(2026, 2, 14),  # Saturday, for 春节
    date(2026, 2, 28),  # Saturday, for 春节
    date(2026, 5, 9),  # Saturday, for 劳动节
    date(2026, 9, 20),  # Sunday, for 国庆节
    date(2026, 10, 10),  # Saturday, for 国庆节
]


@pytest.fixture
def cal() -> WorkingCalendar:
    return WorkingCalendar()


@pytest.mark.parametrize(
    "day", [d for days in HOLIDAYS_2026.values() for d in days], ids=lambda d: d.isoformat()
)
def test_official_holidays_are_not_working_days(cal: WorkingCalendar, day: date) -> None:
    assert not cal.is_workday(day)


@pytest.mark.parametrize("day", MAKEUP_WORKDAYS_2026, ids=lambda d: d.isoformat())
def test_makeup_weekend_days_are_working_days(cal: WorkingCalendar, day: date) -> None:
    assert day.weekday() >= 5
    assert cal.is_workday(day)


def test_2026_has_the_official_number_of_working_days(cal: WorkingCalendar) -> None:
    days = [date(2026, 1, 1) + timedelta(n) for n in range(365)]
    weekdays = sum(1 for d in days if d.weekday() < 5)
    holiday_weekdays = sum(1 for ds in HOLIDAYS_2026.values() for d in ds if d.weekday() < 5)
    expected = weekdays - holiday_weekdays + len(MAKEUP_WORKDAYS_2026)
    assert sum(cal.is_workday(d) for d in days) == expected
    assert cal.uncovered_years == []


@pytest.mark.parametrize(
    ("start", "n", "deadline"),
    [
        # an ordinary week: Thursday + 5 → next Thursday
        ("2026-11-26T10:00:00+08:00", 5, "2026-12-03"),
        # the start day never counts, even at one second past midnight
        ("2026-11-26T00:00:01+08:00", 1, "2026-11-27"),
        # 春节: Saturday 14 Feb is a make-up workday, 15-23 Feb are off
        ("2026-02-12T09:00:00+08:00", 5, "2026-02-26"),
        # 清明 4-6 April
        ("2026-04-03T16:30:00+08:00", 5, "2026-04-13"),
        # 劳动节 1-5 May, Saturday 9 May worked
        ("2026-04-30T09:00:00+08:00", 5, "2026-05-11"),
        # 端午 19-21 June
        ("2026-06-18T09:00:00+08:00", 5, "2026-06-26"),
        # Sunday 20 September worked before 中秋/国庆
        ("2026-09-18T09:00:00+08:00", 5, "2026-09-24"),
        # 国庆 1-7 October, Saturday 10 October worked
        ("2026-09-30T10:00:00+08:00", 5, "2026-10-13"),
        # an extension of 5 more from that due day
        ("2026-10-13T23:59:59+08:00", 5, "2026-10-20"),
        # 元旦 2026 with Sunday 4 January worked (2025 is covered too)
        ("2025-12-31T09:00:00+08:00", 5, "2026-01-08"),
        # UTC instants are placed on the Shanghai calendar day: 20:00Z is Friday 04:00 there
        ("2026-11-26T20:00:00+00:00", 5, "2026-12-04"),
        ("2026-11-26T15:00:00+00:00", 5, "2026-12-03"),
    ],
)
def test_deadlines_2026(cal: WorkingCalendar, start: str, n: int, deadline: str) -> None:
    result = cal.deadline(datetime.fromisoformat(start), n)
    assert result.isoformat() == f"{deadline}T23:59:59+08:00"
    assert cal.uncovered_years == []


def test_zero_working_days_ends_the_same_day(cal: WorkingCalendar) -> None:
    result = cal.deadline(datetime(2026, 10, 3, 9, tzinfo=SHANGHAI), 0)
    assert result == datetime(2026, 10, 3, 23, 59, 59, tzinfo=SHANGHAI)
    with pytest.raises(ValueError, match="negative"):
        cal.deadline(datetime(2026, 10, 3, 9, tzinfo=SHANGHAI), -1)


def test_2027_falls_back_to_monday_to_friday_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    noticed: list[int] = []
    cal = WorkingCalendar(on_fallback=noticed.append)
    assert not cal.covers(2027)
    with caplog.at_level(logging.WARNING, logger="hotline.calendar"):
        # Mon 28 Dec 2026: 29, 30, 31 Dec, then Fri 1 Jan 2027 (no schedule: a weekday counts)
        result = cal.deadline(datetime(2026, 12, 28, 9, tzinfo=SHANGHAI), 5)
        cal.deadline(datetime(2027, 3, 1, 9, tzinfo=SHANGHAI), 5)
    assert result.isoformat() == "2027-01-04T23:59:59+08:00"
    assert cal.uncovered_years == [2027]
    assert noticed == [2027]  # warned once, not on every day
    assert [r.getMessage() for r in caplog.records if "2027" in r.getMessage()]
    assert not cal.is_workday(date(2027, 1, 2))  # Saturday
    assert cal.is_workday(date(2027, 1, 1))  # Friday, a weekday in the fallback


def test_config_can_supply_a_year_chinese_calendar_lacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cal = WorkingCalendar(holidays=[date(2027, 1, 1)], workdays=[])
    with caplog.at_level(logging.WARNING, logger="hotline.calendar"):
        result = cal.deadline(datetime(2026, 12, 28, 9, tzinfo=SHANGHAI), 5)
    assert result.isoformat() == "2027-01-05T23:59:59+08:00"
    assert cal.covers(2027)
    assert cal.uncovered_years == []
    assert not caplog.records


def test_config_overrides_the_official_schedule() -> None:
    # a city that adds a local day off and works on a Saturday
    cal = WorkingCalendar(holidays=[date(2026, 11, 27)], workdays=[date(2026, 11, 28)])
    assert not cal.is_workday(date(2026, 11, 27))
    assert cal.is_workday(date(2026, 11, 28))
    with pytest.raises(ValueError, match="both"):
        WorkingCalendar(holidays=[date(2026, 11, 27)], workdays=[date(2026, 11, 27)])


def test_check_years_reports_uncovered(cal: WorkingCalendar) -> None:
    assert cal.check_years([2025, 2026, 2027]) == [2027]


def test_parse_instant_reads_dates_and_naive_times_as_shanghai() -> None:
    assert parse_instant("2026-11-26") == datetime(2026, 11, 26, tzinfo=SHANGHAI)
    assert parse_instant("2026-11-26T10:00") == datetime(2026, 11, 26, 10, tzinfo=SHANGHAI)
    assert parse_instant("2026-11-26T02:00:00Z") == datetime(2026, 11, 26, 10, tzinfo=SHANGHAI)
    with pytest.raises(ValueError):
        parse_instant("26/11/2026")


@given(
    start=st.datetimes(
        min_value=datetime(2024, 1, 1),  # noqa: DTZ001 - hypothesis wants naive bounds
        max_value=datetime(2027, 12, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    n=st.integers(min_value=1, max_value=15),
)
def test_deadline_properties(start: datetime, n: int) -> None:
    cal = WorkingCalendar()
    deadline = cal.deadline(start, n)
    start_day = start.astimezone(SHANGHAI).date()
    assert deadline.tzinfo is not None
    assert deadline.utcoffset() == timedelta(hours=8)
    assert deadline.date() > start_day
    assert cal.is_workday(deadline.date())
    assert cal.working_days_between(start_day, deadline.date()) == n
    assert deadline == cal.deadline(start, n)  # pure
    if n > 1:
        assert cal.deadline(start, n - 1) < deadline
