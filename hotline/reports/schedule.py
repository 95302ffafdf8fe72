"""Scheduled reports: once a day the scheduler writes the reports whose period has just ended
(yesterday's; last week's on a Monday; last month's on the 1st), each into its own folder under
``reports.output_dir``. A report already written is not written again, and a missed run is
caught up by the next one (for the latest period of each kind)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from hotline.calendar import local_day
from hotline.reports.config import ReportsConfig
from hotline.reports.periods import Kind, Period
from hotline.services.context import Context

if TYPE_CHECKING:
    from hotline.reports.build import Written

log = structlog.get_logger(__name__)


def due_periods(now: datetime, config: ReportsConfig) -> list[Period]:
    """The latest finished period of each kind the config asks for."""
    yesterday = local_day(now) - timedelta(days=1)
    wanted = [
        (config.daily, Kind.DAY),
        (config.weekly, Kind.WEEK),
        (config.monthly, Kind.MONTH),
    ]
    periods = []
    for enabled, kind in wanted:
        if not enabled:
            continue
        period = Period.containing(kind, yesterday)
        if period.stop > local_day(now):  # not over yet: the one before it
            period = period.previous()
        periods.append(period)
    return periods


def output_dir(ctx: Context) -> Path:
    configured = Path(ctx.config.reports.output_dir)
    if configured.is_absolute() or ctx.settings.config_path is None:
        return configured
    return Path(ctx.settings.config_path).parent / configured


async def write_due(ctx: Context) -> list[Written]:
    """Write the due reports that are not there yet (the scheduler's job)."""
    # matplotlib, reportlab and jieba load only when a report is made, not at server start
    from hotline.reports.build import write_report  # noqa: PLC0415

    root = output_dir(ctx)
    written = []
    for period in due_periods(ctx.clock.now(), ctx.config.reports):
        folder = root / period.label
        if (folder / "report.html").exists():
            continue
        done = await write_report(ctx, period, folder)
        log.info("report written", period=period.label, folder=str(folder))
        written.append(done)
    return written
