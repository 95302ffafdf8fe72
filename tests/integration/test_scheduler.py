"""Deadline sweeps with a controllable clock: across the 2026 holidays and into 2027, and
exactly once under restart and with two app instances."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import pytest
from aiohttp import web
from sqlalchemy import func, select, update

from dispatch import scheduler as scheduler_module
from dispatch.leader import Leadership
from dispatch.scheduler import guarded, setup_scheduler, sweep_deadlines
from dispatch.service import decide_extension, dispatch_to, request_extension
from hotline.bootstrap import bootstrap
from hotline.calendar import SHANGHAI
from hotline.clock import FixedClock
from hotline.config import Settings
from hotline.domain.intake import IntakeValue
from hotline.domain.lifecycle import SYSTEM, Reply, Sign
from hotline.domain.vocabulary import Channel, TicketType
from hotline.services.context import Context
from hotline.services.intake import take_in
from hotline.services.queries import get_ticket
from hotline.services.tickets import perform
from hotline.storage.notices import DeadlineNotice
from hotline.storage.outbox import OutboxMessage
from hotline.storage.reference import Department
from hotline.web.keys import CONTEXT
from tests.factories import SUPERVISOR, dept


async def dispatched(ctx: Context, ref: str = "t") -> str:
    made = await take_in(
        ctx,
        IntakeValue(
            channel=Channel.API,
            channel_ref=ref,
            received_at=ctx.clock.now(),
            content="路灯不亮",
            type=TicketType.COMPLAINT,
            category="municipal",
            division="410503",
        ),
    )
    await dispatch_to(ctx, made.number, "CGJ", SYSTEM)
    return made.number


async def notices(ctx: Context) -> list[tuple[str, int, str]]:
    async with ctx.db.sessions() as session:
        rows = await session.scalars(select(DeadlineNotice).order_by(DeadlineNotice.id))
        return [(n.kind, n.level, n.outcome) for n in rows]


async def test_notices_across_national_day(ctx: Context, clock: FixedClock) -> None:
    clock.set(datetime(2026, 9, 30, 10, 0, tzinfo=SHANGHAI))  # the eve of 国庆
    async with ctx.db.sessions() as session, session.begin():
        await session.execute(
            update(Department)
            .where(Department.code == "CGJ")
            .values(webhook_url="https://cgj.example.cn/hotline", webhook_secret="s3cret")
        )
    number = await dispatched(ctx)
    view = await get_ticket(ctx, number)
    assert view.ticket.due_at == datetime(2026, 10, 13, 23, 59, 59, tzinfo=SHANGHAI)

    clock.set(datetime(2026, 9, 30, 12, 1, tzinfo=SHANGHAI))  # sign-for time passed
    report = await sweep_deadlines(ctx)
    assert report.sent == [(number, "sign_overdue", 0)]
    await perform(ctx, number, Sign("CGJ"), dept("CGJ"))

    clock.set(datetime(2026, 10, 8, 9, 0, tzinfo=SHANGHAI))  # through the holiday: quiet
    assert (await sweep_deadlines(ctx)).sent == []

    clock.set(datetime(2026, 10, 13, 0, 0, tzinfo=SHANGHAI))  # a day before the due time
    assert (await sweep_deadlines(ctx)).sent == [(number, "due_soon", 0)]

    clock.set(datetime(2026, 10, 14, 0, 0, 1, tzinfo=SHANGHAI))  # overdue: 催办
    assert (await sweep_deadlines(ctx)).sent == [(number, "overdue", 0)]
    clock.set(datetime(2026, 10, 15, 1, 0, tzinfo=SHANGHAI))  # +24 h: 督办 level 1
    assert (await sweep_deadlines(ctx)).sent == [(number, "escalation", 1)]
    clock.set(datetime(2026, 10, 20, 0, 0, tzinfo=SHANGHAI))  # +72 h: level 2
    assert (await sweep_deadlines(ctx)).sent == [(number, "escalation", 2)]
    assert (await sweep_deadlines(ctx)).sent == []  # nothing is ever sent twice

    view = await get_ticket(ctx, number)
    assert view.ticket.supervision_level == 2
    assert [e.action for e in view.events][-3:] == ["noted", "supervised", "supervised"]
    async with ctx.db.sessions() as session:
        messages = list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    assert [json.loads(m.body)["event"] for m in messages if m.kind == "webhook"] == [
        "sign_overdue",
        "due_soon",
        "overdue",
        "escalation",
        "escalation",
    ]
    assert all(
        m.recipient == "https://cgj.example.cn/hotline" for m in messages if m.kind == "webhook"
    )


async def test_into_2027_on_the_fallback_calendar(ctx: Context, clock: FixedClock) -> None:
    clock.set(datetime(2026, 12, 28, 9, 0, tzinfo=SHANGHAI))
    number = await dispatched(ctx)
    view = await get_ticket(ctx, number)
    assert view.ticket.due_at == datetime(2027, 1, 4, 23, 59, 59, tzinfo=SHANGHAI)
    assert ctx.calendar.uncovered_years == [2027]
    clock.set(datetime(2027, 1, 5, 0, 0, tzinfo=SHANGHAI))
    report = await sweep_deadlines(ctx)
    assert [kind for _, kind, _ in report.sent] == ["sign_overdue", "due_soon", "overdue"]


async def test_an_extension_starts_a_new_schedule_and_a_reply_ends_it(
    ctx: Context, clock: FixedClock
) -> None:
    number = await dispatched(ctx)
    await perform(ctx, number, Sign("CGJ"), dept("CGJ"))
    clock.set(datetime(2026, 12, 3, 1, 0, tzinfo=SHANGHAI))
    assert [k for _, k, _ in (await sweep_deadlines(ctx)).sent] == ["due_soon"]
    ext, _ = await request_extension(ctx, number, "CGJ", "需更换电缆", "李局长", dept("CGJ"))
    await decide_extension(ctx, ext, True, SUPERVISOR, None)
    clock.set(datetime(2026, 12, 4, 1, 0, tzinfo=SHANGHAI))  # past the old due time
    assert (await sweep_deadlines(ctx)).sent == []
    clock.set(datetime(2026, 12, 10, 1, 0, tzinfo=SHANGHAI))  # a day before the new one
    assert [k for _, k, _ in (await sweep_deadlines(ctx)).sent] == ["due_soon"]
    await perform(ctx, number, Reply("CGJ", "已修复", True), dept("CGJ"))
    clock.set(datetime(2026, 12, 31, 0, 0, tzinfo=SHANGHAI))
    assert (await sweep_deadlines(ctx)).sent == []


async def test_exactly_once_across_a_restart(
    ctx: Context, clock: FixedClock, settings: Settings
) -> None:
    for i in range(5):
        await dispatched(ctx, f"r{i}")
    clock.set(datetime(2026, 12, 5, 0, 0, tzinfo=SHANGHAI))
    first = await sweep_deadlines(ctx)
    assert len(first.sent) == 5 * 4  # sign, reminder, overdue, level 1 for each
    restarted = bootstrap(settings, clock=clock)  # a new process: new engine, same database
    try:
        assert (await sweep_deadlines(restarted)).sent == []
    finally:
        await restarted.db.dispose()
    assert len(await notices(ctx)) == 20


async def test_exactly_once_with_two_instances(
    ctx: Context, clock: FixedClock, settings: Settings
) -> None:
    for i in range(30):
        await dispatched(ctx, f"p{i}")
    clock.set(datetime(2026, 12, 8, 0, 0, tzinfo=SHANGHAI))
    other = bootstrap(settings, clock=clock)
    try:
        reports = await asyncio.gather(
            sweep_deadlines(ctx, limit=7),
            sweep_deadlines(other, limit=7),
            sweep_deadlines(ctx, limit=7),
            sweep_deadlines(other, limit=7),
        )
        while True:  # keep sweeping until both instances find nothing due
            more = await asyncio.gather(sweep_deadlines(ctx), sweep_deadlines(other))
            reports = [*reports, *more]
            if not any(r.sent for r in more):
                break
    finally:
        await other.db.dispose()
    sent = [s for r in reports for s in r.sent]
    assert len(sent) == len(set(sent)) == 30 * 5  # all five notices, each exactly once
    async with ctx.db.sessions() as session:
        count = await session.scalar(select(func.count()).select_from(DeadlineNotice))
    assert count == 150
    view = await get_ticket(ctx, "AY20261126-000001")
    assert view.ticket.supervision_level == 2


async def test_one_instance_leads_the_scheduler(ctx: Context, settings: Settings) -> None:
    """On PostgreSQL the advisory lock picks one leader; SQLite's single instance always leads."""
    other = bootstrap(settings, clock=ctx.clock)
    first, second = Leadership(ctx.db), Leadership(other.db)
    try:
        assert await first.acquire()
        assert await first.acquire()  # kept, not taken again
        if ctx.db.dialect == "postgresql":
            assert not await second.acquire()
            ran: list[str] = []

            async def job(_: Context) -> None:
                ran.append("ran")

            await guarded(job, other, second)()
            assert ran == []  # the standby instance does not sweep
            await first.release()
            assert not first.held
            assert await second.acquire()  # it takes over at its next tick
            await guarded(job, other, second)()
            assert ran == ["ran"]
        else:
            assert await second.acquire() and first.held and second.held
    finally:
        await first.release()
        await second.release()
        await other.db.dispose()


async def test_a_stopping_server_lets_a_sweep_under_way_finish(
    settings: Settings, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shutdown waits for a scheduled job under way (each of its steps is a transaction of its
    own) instead of cancelling it mid-run, and starts no new one."""
    started, release = asyncio.Event(), asyncio.Event()
    runs: list[str] = []

    async def route_received(_: Context) -> None:
        runs.append("started")
        started.set()
        await release.wait()
        runs.append("finished")

    monkeypatch.setattr(scheduler_module, "route_received", route_received)
    ctx = bootstrap(settings, clock=clock)
    app = web.Application()
    app[CONTEXT] = ctx
    setup_scheduler(app)
    runner = web.AppRunner(app)
    await runner.setup()  # the routing sweep's first run comes after its interval (2 s)
    try:
        await asyncio.wait_for(started.wait(), timeout=15)
        stopping = asyncio.create_task(runner.cleanup())
        await asyncio.sleep(0.2)
        assert not stopping.done()  # waiting for the sweep
        release.set()
        await asyncio.wait_for(stopping, timeout=15)
        assert runs == ["started", "finished"]
    finally:
        release.set()
        await ctx.db.dispose()
