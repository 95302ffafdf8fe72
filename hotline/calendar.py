"""The working-day calendar (CONTRACT.md, "Deadline arithmetic").

Asia/Shanghai. A period of N working days starting at T ends at 23:59:59 on the Nth working day
after T's calendar day; T's own day does not count. Official holidays and make-up workdays (调休)
come from ``chinese_calendar``; ``calendar.holidays`` / ``calendar.workdays`` in config override
them. A year that neither covers falls back to Monday–Friday, logs a warning naming the year once,
and is reported by :attr:`WorkingCalendar.uncovered_years` so that ``/healthz`` says "degraded".
Never raises for an uncovered year: a hotline must keep computing deadlines on 1 January.

Pure: no clock is read here. Callers pass the instants.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
END_OF_DAY = time(23, 59, 59)

log = logging.getLogger(__name__)

#: Returns True/False for a day it knows, or raises NotImplementedError for an uncovered year.
OfficialSource = Callable[[date], bool]


def _chinese_calendar_is_workday(day: date) -> bool:
    return bool(chinese_calendar.is_workday(day))


class WorkingCalendar:
    def __init__(
        self,
        holidays: Iterable[date] = (),
        workdays: Iterable[date] = (),
        *,
        official: OfficialSource = _chinese_calendar_is_workday,
        on_fallback: Callable[[int], None] | None = None,
    ) -> None:
        self._holidays = frozenset(holidays)
        self._workdays = frozenset(workdays)
        overlap = self._holidays & self._workdays
        if overlap:
            days = ", ".join(sorted(d.isoformat() for d in overlap))
            raise ValueError(f"calendar: days listed both as holiday and workday: {days}")
        self._configured_years = {d.year for d in self._holidays | self._workdays}
        self._official = official
        self._on_fallback = on_fallback
        self._fallback_years: set[int] = set()
        self._covered: dict[int, bool] = {}

    # -- coverage --------------------------------------------------------------------------

    def covers(self, year: int) -> bool:
        """Whether ``year`` has an official schedule (from chinese_calendar or config)."""
        return year in self._configured_years or self._official_covers(year)

    def _official_covers(self, year: int) -> bool:
        known = self._covered.get(year)
        if known is None:
            try:
                self._official(date(year, 6, 1))
                known = True
            except NotImplementedError:
                known = False
            self._covered[year] = known
        return known

    @property
    def uncovered_years(self) -> list[int]:
        """Years for which the Monday–Friday fallback has been used so far."""
        return sorted(self._fallback_years)

    def check_years(self, years: Iterable[int]) -> list[int]:
        """The years among ``years`` that have no schedule (for health checks)."""
        return sorted({y for y in years if not self.covers(y)})

    # -- days ------------------------------------------------------------------------------

    def is_workday(self, day: date) -> bool:
        if day in self._holidays:
            return False
        if day in self._workdays:
            return True
        if self._official_covers(day.year):
            return self._official(day)
        if day.year not in self._configured_years:
            # Neither chinese_calendar nor config knows this year: warn once, then Mon-Fri.
            self._note_fallback(day.year)
        # A year listed in config is the operator's schedule: weekdays plus the listed days.
        return day.weekday() < 5

    def _note_fallback(self, year: int) -> None:
        if year in self._fallback_years:
            return
        self._fallback_years.add(year)
        log.warning(
            "calendar: no official holiday schedule for %s; using Monday-Friday as working days. "
            "Add calendar.holidays / calendar.workdays for %s to the config.",
            year,
            year,
        )
        if self._on_fallback is not None:
            self._on_fallback(year)

    def next_workday(self, day: date) -> date:
        """The first working day strictly after ``day``."""
        d = day + timedelta(days=1)
        while not self.is_workday(d):
            d += timedelta(days=1)
        return d

    def add_working_days(self, day: date, n: int) -> date:
        """The Nth working day after ``day`` (``day`` itself does not count); N=0 is ``day``."""
        if n < 0:
            raise ValueError("the number of working days must not be negative")
        d = day
        for _ in range(n):
            d = self.next_workday(d)
        return d

    def working_days_between(self, start: date, end: date) -> int:
        """How many working days lie in (start, end]: the inverse of :meth:`add_working_days`."""
        if end <= start:
            return 0
        count = 0
        d = start
        while d < end:
            d += timedelta(days=1)
            if self.is_workday(d):
                count += 1
        return count

    # -- instants --------------------------------------------------------------------------

    def deadline(self, start: datetime | date, working_days: int) -> datetime:
        """End (23:59:59 Asia/Shanghai) of the Nth working day after ``start``'s local day."""
        day = local_day(start)
        end = self.add_working_days(day, working_days)
        return datetime.combine(end, END_OF_DAY, tzinfo=SHANGHAI)


def local_day(when: datetime | date) -> date:
    """The calendar day in Asia/Shanghai. A naive datetime is taken as Shanghai time."""
    if isinstance(when, datetime):
        if when.tzinfo is None:
            return when.date()
        return when.astimezone(SHANGHAI).date()
    return when


def to_shanghai(when: datetime) -> datetime:
    """An aware datetime in Asia/Shanghai (naive input is taken as Shanghai time)."""
    if when.tzinfo is None:
        return when.replace(tzinfo=SHANGHAI)
    return when.astimezone(SHANGHAI)


def parse_instant(text: str) -> datetime:
    """Parse an ISO date or datetime; dates and naive times are Asia/Shanghai."""
    value = text.strip()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = datetime.combine(date.fromisoformat(value), time(0), tzinfo=SHANGHAI)
    if len(value) == 10:  # a bare date: start of that day in Shanghai
        parsed = datetime.combine(parsed.date(), time(0), tzinfo=SHANGHAI)
    return to_shanghai(parsed)


def utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError("naive datetime")
    return when.astimezone(UTC)
