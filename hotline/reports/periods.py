"""Report periods in Asia/Shanghai: a day ``2026-11-26``, an ISO week ``2026-W48``, a month
``2026-11`` or a year ``2026``. A period is half-open: ``start <= t < end``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from hotline.calendar import SHANGHAI


class Kind(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"

    @property
    def label(self) -> str:
        return {"day": "日报", "week": "周报", "month": "月报", "year": "年报"}[self.value]


#: the years a period may name (the calendar and the data make no sense outside them)
YEARS = (2000, 2999)

_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_YEAR = re.compile(r"^(\d{4})$")


class PeriodError(ValueError):
    """The text names no period; the message says what is expected (in Chinese)."""


@dataclass(frozen=True)
class Period:
    kind: Kind
    first: date
    #: the day after the last day
    stop: date

    # -- making ------------------------------------------------------------------------------

    @classmethod
    def day(cls, day: date) -> Period:
        return cls(Kind.DAY, day, day + timedelta(days=1))

    @classmethod
    def week(cls, year: int, week: int) -> Period:
        monday = date.fromisocalendar(year, week, 1)
        return cls(Kind.WEEK, monday, monday + timedelta(days=7))

    @classmethod
    def month(cls, year: int, month: int) -> Period:
        first = date(year, month, 1)
        stop = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
        return cls(Kind.MONTH, first, stop)

    @classmethod
    def year(cls, year: int) -> Period:
        return cls(Kind.YEAR, date(year, 1, 1), date(year + 1, 1, 1))

    @classmethod
    def containing(cls, kind: Kind, day: date) -> Period:
        if kind is Kind.DAY:
            return cls.day(day)
        if kind is Kind.WEEK:
            iso = day.isocalendar()
            return cls.week(iso.year, iso.week)
        if kind is Kind.MONTH:
            return cls.month(day.year, day.month)
        return cls.year(day.year)

    # -- reading -----------------------------------------------------------------------------

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), SHANGHAI)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.stop, time(), SHANGHAI)

    @property
    def last(self) -> date:
        return self.stop - timedelta(days=1)

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.stop - self.first).days)]

    @property
    def label(self) -> str:
        """The period as it is written on the command line: ``2026-W48``."""
        if self.kind is Kind.DAY:
            return self.first.isoformat()
        if self.kind is Kind.WEEK:
            iso = self.first.isocalendar()
            return f"{iso.year}-W{iso.week:02d}"
        if self.kind is Kind.MONTH:
            return f"{self.first.year}-{self.first.month:02d}"
        return str(self.first.year)

    @property
    def title(self) -> str:
        """The period in Chinese: 2026年11月26日, 2026年第48周(11月23日—11月29日), ..."""
        f, last = self.first, self.last
        if self.kind is Kind.DAY:
            return f"{f.year}年{f.month}月{f.day}日"
        if self.kind is Kind.WEEK:
            iso = f.isocalendar()
            return f"{iso.year}年第{iso.week}周({f.month}月{f.day}日—{last.month}月{last.day}日)"
        if self.kind is Kind.MONTH:
            return f"{f.year}年{f.month}月"
        return f"{f.year}年"

    def previous(self) -> Period:
        """The period of the same kind just before this one."""
        return Period.containing(self.kind, self.first - timedelta(days=1))

    def next(self) -> Period:
        return Period.containing(self.kind, self.stop)

    def contains(self, when: datetime) -> bool:
        return self.start <= when < self.end


def parse_period(text: str) -> Period:
    """``2026-11-26``, ``2026-W48``, ``2026-11`` or ``2026``; :class:`PeriodError` otherwise."""
    text = (text or "").strip()
    try:
        if m := _DAY.match(text):
            period = Period.day(date(int(m[1]), int(m[2]), int(m[3])))
        elif m := _WEEK.match(text):
            period = Period.week(int(m[1]), int(m[2]))
        elif m := _MONTH.match(text):
            period = Period.month(int(m[1]), int(m[2]))
        elif m := _YEAR.match(text):
            period = Period.year(int(m[1]))
        else:
            raise PeriodError("统计周期须为 2026-11(月)、2026-W48(周)、2026-11-26(日)或 2026(年)")
    except ValueError as exc:
        if isinstance(exc, PeriodError):
            raise
        raise PeriodError(f"不存在的日期或周次: {text}") from exc
    if not YEARS[0] <= period.first.year <= YEARS[1]:
        raise PeriodError(f"统计周期超出可查询的年份范围: {text}")
    return period
