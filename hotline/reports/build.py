"""Making one report: read the period (async, the database), then find keywords, draw the
charts and write ``report.html``, ``report.pdf``, ``report.csv`` and the charts' PNG files (in a
worker thread, so a server's event loop keeps serving meanwhile).

A long run shows a progress bar on stderr (tqdm) when asked (the CLI does; the scheduler not).
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Never

from tqdm import tqdm

from hotline.reports import charts, csv_writer, html_writer, keywords, pdf_writer
from hotline.reports.gather import ReportData, gather
from hotline.reports.periods import Period
from hotline.services.context import Context

STEPS = ("读取数据", "提取关键词", "绘制图表", "生成 HTML", "生成 PDF", "生成 CSV")


@dataclass
class Written:
    period: Period
    directory: Path
    html: Path
    pdf: Path
    csv: Path
    charts: list[Path] = field(default_factory=list)
    data: ReportData | None = None

    @property
    def files(self) -> list[Path]:
        return [self.html, self.pdf, self.csv, *self.charts]


async def write_report(
    ctx: Context, period: Period, out: Path, *, progress: bool = False
) -> Written:
    bar = tqdm(
        total=len(STEPS),
        desc=f"report {period.label}",
        unit="步",
        file=sys.stderr,
        disable=not progress,
        leave=False,
    )
    try:
        bar.set_postfix_str(STEPS[0])
        data = await gather(ctx, period)
        bar.update()
        days = ctx.config.hotspots.days
        minimum = ctx.config.hotspots.min_reports
        top = ctx.config.reports.keywords
        return await asyncio.to_thread(_render, data, out, bar, top, days, minimum)
    finally:
        bar.close()


def _render(
    data: ReportData, out: Path, bar: tqdm[Never], top: int, hotspot_days: int, hotspot_min: int
) -> Written:
    bar.set_postfix_str(STEPS[1])
    data.keywords = keywords.top_keywords(data.texts, top, data.places)
    bar.update()
    bar.set_postfix_str(STEPS[2])
    drawn = charts.draw(data)
    out.mkdir(parents=True, exist_ok=True)
    chart_dir = out / "charts"
    chart_dir.mkdir(exist_ok=True)
    chart_paths = []
    for chart in drawn:
        path = chart_dir / f"{chart.name}.png"
        path.write_bytes(chart.png)
        chart_paths.append(path)
    bar.update()
    bar.set_postfix_str(STEPS[3])
    html = out / "report.html"
    html.write_text(html_writer.render(data, drawn, hotspot_days, hotspot_min), encoding="utf-8")
    bar.update()
    bar.set_postfix_str(STEPS[4])
    pdf = out / "report.pdf"
    pdf.write_bytes(pdf_writer.render(data, drawn, hotspot_days, hotspot_min))
    bar.update()
    bar.set_postfix_str(STEPS[5])
    csv = out / "report.csv"
    csv.write_bytes(csv_writer.render(data))
    bar.update()
    return Written(data.period, out, html, pdf, csv, chart_paths, data)
