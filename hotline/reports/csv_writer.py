"""The report as CSV: one long ("tidy") table, a value per row, for spreadsheets and scripts.

Columns ``section, dimension, key, name, metric, value`` (docs/reports.md lists the sections).
UTF-8 with a byte-order mark, so that spreadsheet programs read the Chinese names right.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from hotline.calendar import to_shanghai
from hotline.reports.gather import ReportData
from hotline.reports.indicators import NAMES, Indicators

HEADER = ("section", "dimension", "key", "name", "metric", "value")
Row = tuple[str, str, str, str, str, object]


def _indicator_rows(dimension: str, key: str, name: str, values: Indicators) -> Iterator[Row]:
    yield ("kpi", dimension, key, name, "tickets", values.tickets)
    yield ("kpi", dimension, key, name, "assignments", values.assignments)
    yield ("kpi", dimension, key, name, "ratings", values.ratings)
    for code in NAMES:
        ratio = values.values.get(code)
        if ratio is None:
            continue
        rate = ratio.rate
        yield ("kpi", dimension, key, name, f"{code}.numerator", ratio.numerator)
        yield ("kpi", dimension, key, name, f"{code}.denominator", ratio.denominator)
        yield ("kpi", dimension, key, name, f"{code}.rate", "" if rate is None else round(rate, 4))


def rows(data: ReportData) -> Iterator[Row]:
    p = data.period
    yield ("period", "", p.label, p.title, "start", to_shanghai(p.start).isoformat())
    yield ("period", "", p.label, p.title, "end", to_shanghai(p.end).isoformat())
    yield ("period", "", data.previous.label, data.previous.title, "previous", "")
    yield ("summary", "", "tickets", "受理工单", "count", data.tickets)
    yield ("summary", "", "tickets", "受理工单", "previous", data.tickets_previous)
    yield ("summary", "", "calls", "来电", "count", data.calls)
    yield ("summary", "", "calls", "来电", "previous", data.calls_previous)
    yield ("summary", "", "calls_answered", "人工接通", "count", data.calls_answered)
    yield ("summary", "", "overdue", "超期工单", "count", data.overdue_total)
    yield ("summary", "", "bad_ratings", "差评", "count", data.bad_ratings_total)
    for dimension, counts in (
        ("channel", data.by_channel),
        ("type", data.by_type),
        ("category", data.by_category),
        ("division", data.by_division),
    ):
        for c in counts:
            yield ("volume", dimension, c.key, c.name, "count", c.count)
            yield ("volume", dimension, c.key, c.name, "previous", c.previous)
    unit = {"日": "day", "时": "hour", "月": "month"}[data.trend_unit]
    for point in data.trend:
        yield ("trend", unit, point.label, point.label, "count", point.count)
        yield ("trend", unit, point.label, point.label, "previous", point.previous)
    for c in data.ratings:
        yield ("rating", "level", c.key, c.name, "count", c.count)
        yield ("rating", "level", c.key, c.name, "previous", c.previous)
    for h in data.hotspots:
        place = "/".join(x for x in (h.division, h.place) if x)
        yield ("hotspot", h.category, place, "、".join(h.numbers), "reports", h.reports)
    for k in data.keywords:
        yield ("keyword", "word", k.word, k.example, "tickets", k.tickets)
        yield ("keyword", "word", k.word, k.example, "weight", k.weight)
    for o in data.overdue:
        yield ("overdue", o.department, o.number, o.category, "hours", o.hours)
    for b in data.bad_ratings:
        yield ("bad_rating", b.department, b.number, b.category, b.level, b.review)
    if data.kpis is not None:
        yield from _indicator_rows("overall", "", "全市", data.kpis.overall)
    if data.unit_kpis is not None:
        for g in data.unit_kpis.groups:
            yield from _indicator_rows("unit", g.key, g.name, g.values)


def render(data: ReportData) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows(data))
    return buffer.getvalue().encode("utf-8-sig")
