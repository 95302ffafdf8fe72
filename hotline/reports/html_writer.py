"""The report as one self-contained HTML page: Jinja2 (autoescaped), charts embedded as PNG."""

from __future__ import annotations

import base64
from datetime import date, datetime
from typing import Any

import jinja2
from markupsafe import Markup, escape

from hotline.calendar import to_shanghai
from hotline.reports.charts import Chart
from hotline.reports.gather import Count, ReportData
from hotline.reports.indicators import NAMES, Ratio

#: the unit table's columns (the calls' indicators have no unit)
UNIT_COLUMNS = ("sign_on_time", "on_time", "extension", "return", "reopen", "satisfaction")


def heading(data: ReportData) -> str:
    return f"{data.city}12345政务服务便民热线社情民意分析{data.period.kind.label}"


def pct(value: Ratio | float | None) -> str:
    rate = value.rate if isinstance(value, Ratio) else value
    return "—" if rate is None else f"{rate * 100:.1f}%"


def change(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:+.1f}%"


def when(value: datetime | None) -> str:
    return "" if value is None else f"{to_shanghai(value):%Y-%m-%d %H:%M}"


def day(value: datetime | date | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = to_shanghai(value).date()
    return value.isoformat()


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("hotline.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(pct=pct, change=change, when=when, day=day)
    return env


_ENV = _environment()


def distributions(data: ReportData) -> list[tuple[str, str, list[Count]]]:
    return [
        ("按渠道", "channels", data.by_channel),
        ("按诉求类型", "types", data.by_type),
        ("按诉求分类", "categories", data.by_category),
        ("按行政区划", "divisions", data.by_division),
    ]


def render(data: ReportData, charts: list[Chart], hotspot_days: int, hotspot_min: int) -> str:
    by_name = {c.name: c for c in charts}

    def figure(name: str) -> Markup:
        chart = by_name[name]
        encoded = base64.b64encode(chart.png).decode()
        return Markup(
            '<figure><img src="data:image/png;base64,{}" alt="{}"><figcaption>图：{}</figcaption>'
            "</figure>"
        ).format(encoded, escape(chart.title), escape(chart.title))

    assert data.kpis is not None  # noqa: S101 - gathered with the data
    overall = data.kpis.overall.values
    context: dict[str, Any] = {
        "d": data,
        "heading": heading(data),
        "figure": figure,
        "distributions": distributions(data),
        "names": NAMES,
        "unit_codes": UNIT_COLUMNS,
        "overall": overall,
        "rated": data.kpis.overall.ratings,
        "hotspot_days": hotspot_days,
        "hotspot_min": hotspot_min,
    }
    return _ENV.get_template("report.html").render(context)
