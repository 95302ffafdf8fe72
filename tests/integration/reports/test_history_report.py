"""A seeded history of real work, and the 社情民意 report made from it: files, charts that are
real pictures, and numbers that agree with direct SQL counts."""

from __future__ import annotations

import csv
import io
import shutil
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.bootstrap import bootstrap
from hotline.reports.build import write_report
from hotline.reports.periods import parse_period
from hotline.reports.schedule import due_periods, write_due
from hotline.services.context import Context
from hotline.services.history_seed import seed_history
from hotline.storage.calls import Call
from hotline.storage.evaluation import Rating
from hotline.storage.outbox import OutboxMessage
from hotline.storage.tickets import Assignment, ExtensionRequest, ReturnRequest, Ticket
from tests.conftest import PG_URL, make_settings


async def count_of(session: AsyncSession, table: Any, *where: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(table).where(*where)) or 0)


async def grouped(session: AsyncSession, column: Any, *where: Any) -> dict[Any, int]:
    rows = await session.execute(select(column, func.count()).where(*where).group_by(column))
    return {row[0]: int(row[1]) for row in rows}


def read_csv(path: Path) -> list[dict[str, str]]:
    text = path.read_bytes().decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def value(rows: list[dict[str, str]], section: str, key: str, metric: str, dim: str = "") -> str:
    found = [
        r["value"]
        for r in rows
        if r["section"] == section and r["key"] == key and r["metric"] == metric
        and (not dim or r["dimension"] == dim)
    ]  # fmt: skip
    assert len(found) == 1, (section, key, metric, found)
    return found[0]


def assert_real_picture(path: Path) -> None:
    with Image.open(path) as image:
        assert image.format == "PNG"
        width, height = image.size
        assert width >= 400 and height >= 200, image.size
        found = image.convert("RGB").getcolors(maxcolors=width * height) or []
    colours = Counter({colour: n for n, colour in found})
    assert len(colours) >= 8, f"{path.name}: {len(colours)} colours"
    inked = sum(n for c, n in colours.items() if c != (255, 255, 255))
    assert inked / (width * height) > 0.02, f"{path.name} is nearly blank"


async def test_a_seeded_history_makes_a_report_whose_numbers_agree_with_sql(
    ctx: Context, tmp_path: Path
) -> None:
    seeded = await seed_history(ctx, 7, per_day=12)
    assert len(seeded.days_seeded) == 7 and seeded.tickets > 40 and seeded.ratings > 0
    async with ctx.db.sessions() as session:
        tickets_before = await session.scalar(select(func.count()).select_from(Ticket))
        channels = set(await session.scalars(select(Ticket.origin_channel).distinct()))
        statuses = set(await session.scalars(select(Ticket.status).distinct()))
        calls = (
            await session.execute(
                select(
                    func.count(), func.count(Call.answered_at), func.count().filter(Call.abandoned)
                )
            )
        ).one()
        late = await count_of(session, Assignment, Assignment.replied_at > Assignment.due_at)
        on_time = await count_of(session, Assignment, Assignment.replied_at <= Assignment.due_at)
        pending_out = await count_of(session, OutboxMessage, OutboxMessage.status == "pending")
    # real work on every channel, with its clocks: some late, most on time
    assert {"phone", "sms", "wechat", "mailbox"} <= channels
    assert {"closed", "answered"} & statuses and len(statuses) >= 4
    assert calls[0] > calls[1] > 0 and calls[2] > 0
    assert on_time and late is not None and on_time > late
    assert pending_out == 0  # nothing of the history reaches anyone

    # idempotent: a second run finds the days and adds nothing
    again = await seed_history(ctx, 7, per_day=12)
    assert again.days_seeded == [] and len(again.days_skipped) == 7
    async with ctx.db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Ticket)) == tickets_before

    period = parse_period("2026-11")
    written = await write_report(ctx, period, tmp_path / "2026-11")
    for path in (written.html, written.pdf, written.csv):
        assert path.exists() and path.stat().st_size > 1000
    assert written.pdf.read_bytes().startswith(b"%PDF")
    assert len(written.charts) == 6
    for chart in written.charts:
        assert_real_picture(chart)
    html = written.html.read_text(encoding="utf-8")
    assert "安阳市12345政务服务便民热线社情民意分析月报" in html
    assert html.count("data:image/png;base64,") == 6
    for heading in (
        "总体情况",
        "诉求趋势",
        "诉求分布",
        "热点",
        "市民原话关键词",
        "办理绩效",
        "超期工单",
        "好差评",
    ):
        assert heading in html
    data = written.data
    assert data is not None and data.keywords, "no keywords"

    rows = read_csv(written.csv)
    start, end = period.start, period.end
    async with ctx.db.sessions() as session:
        in_period = (Ticket.received_at >= start, Ticket.received_at < end)
        total = await count_of(session, Ticket, *in_period)
        by_channel = await grouped(session, Ticket.origin_channel, *in_period)
        by_category = await grouped(session, Ticket.category_code, *in_period)
        call_count = await count_of(session, Call, Call.arrived_at >= start, Call.arrived_at < end)
        rated = (Rating.rated_at >= start, Rating.rated_at < end, Rating.void.is_(False))
        levels = await grouped(session, Rating.level, *rated)
        satisfied = await count_of(session, Rating, *rated, Rating.level <= 3)
        as_of = min(ctx.clock.now(), end)
        overdue = 0
        for replied, due, status in await session.execute(
            select(Assignment.replied_at, Assignment.due_at, Assignment.status).where(
                Assignment.role == "lead", Assignment.due_at >= start, Assignment.due_at < as_of
            )
        ):
            if (replied is not None and replied > due) or (
                replied is None and status not in ("returned", "closed")
            ):
                overdue += 1
        extended = await count_of(session, ExtensionRequest)
        returned = await count_of(session, ReturnRequest)
    assert total and int(value(rows, "summary", "tickets", "count")) == total == data.tickets
    assert int(value(rows, "summary", "calls", "count")) == call_count
    for channel, count in by_channel.items():
        assert int(value(rows, "volume", channel, "count", "channel")) == count
    for category, count in by_category.items():
        assert int(value(rows, "volume", category or "", "count", "category")) == count
    for level in range(1, 6):
        assert int(value(rows, "rating", str(level), "count")) == levels.get(level, 0)
    assert int(value(rows, "summary", "overdue", "count")) == overdue
    sat = [r for r in rows if r["section"] == "kpi" and r["dimension"] == "overall"]
    sat_values = {r["metric"]: r["value"] for r in sat}
    assert int(sat_values["satisfaction.numerator"]) == satisfied
    assert int(sat_values["satisfaction.denominator"]) == sum(levels.values())
    assert int(sat_values["tickets"]) == total
    assert extended > 0 or returned > 0  # the seed's units ask for more time or hand back
    trend = [r for r in rows if r["section"] == "trend" and r["metric"] == "count"]
    assert len(trend) == 30 and sum(int(r["value"]) for r in trend) == total


async def test_scheduled_reports_are_written_once(ctx: Context, tmp_path: Path) -> None:
    settings = ctx.settings.model_copy(
        update={
            "config": ctx.config.model_copy(
                update={
                    "reports": ctx.config.reports.model_copy(
                        update={"output_dir": str(tmp_path / "reports")}
                    )
                }
            )
        }
    )
    scheduled = replace(ctx, settings=settings)
    now = ctx.clock.now()  # Thursday 2026-11-26
    assert [p.label for p in due_periods(now, ctx.config.reports)] == [
        "2026-11-25",
        "2026-W47",
        "2026-10",
    ]
    assert [p.label for p in due_periods(now + timedelta(days=5), ctx.config.reports)] == [
        "2026-11-30",
        "2026-W48",
        "2026-11",
    ]
    first = await write_due(scheduled)  # on an empty database too
    assert [w.period.label for w in first] == ["2026-11-25", "2026-W47", "2026-10"]
    for w in first:
        assert (tmp_path / "reports" / w.period.label / "report.html").exists()
        assert (tmp_path / "reports" / w.period.label / "report.pdf").exists()
        assert (tmp_path / "reports" / w.period.label / "report.csv").exists()
    assert await write_due(scheduled) == []


async def _fingerprint(ctx: Context) -> list[tuple[Any, ...]]:
    async with ctx.db.sessions() as session:
        rows = await session.execute(
            select(
                Ticket.number,
                Ticket.content,
                Ticket.status,
                Ticket.category_code,
                Ticket.received_at,
                Ticket.due_at,
            ).order_by(Ticket.number)
        )
        return [tuple(r) for r in rows]


async def test_the_same_seed_gives_the_same_history(
    ctx: Context, database_template: str, tmp_path: Path
) -> None:
    if PG_URL:
        pytest.skip("compares two SQLite copies of the template database")
    copy = tmp_path / "second.db"
    shutil.copyfile(database_template, copy)
    other = bootstrap(make_settings(f"sqlite+aiosqlite:///{copy}", tmp_path), clock=ctx.clock)
    try:
        await seed_history(ctx, 2, per_day=6, seed=7)
        await seed_history(other, 2, per_day=6, seed=7)
        first, second = await _fingerprint(ctx), await _fingerprint(other)
    finally:
        await other.db.dispose()
    assert first and first == second
