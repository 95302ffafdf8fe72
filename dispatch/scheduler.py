"""The scheduler: periodic sweeps over indexed due times, never one job per ticket.

* ``sweep_deadlines``: reminders before due, sign-for notices, 催办 at the due time and 督办
  levels after it (``dispatch.escalation`` decides; this module records and acts). Each
  assignment carries ``next_notice_at``, so a sweep reads only what is due now: its cost
  follows the due work, not the number of tickets.
* ``dispatch.auto.route_received``: routes newly received text-channel tickets.

Exactly once, across restarts and app instances: due assignments are claimed with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite has one writer), and each notice is a row
with a unique key inserted in the same transaction as its effects (the ticket's event and the
outbox message to the unit), so a notice is either wholly done or not at all, and never twice.
APScheduler only calls these functions on a timer; tests call them with a fixed "now".
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import hotspots
from dispatch.auto import route_received
from dispatch.escalation import (
    DUE_SOON,
    ESCALATION,
    OVERDUE,
    SIGN_OVERDUE,
    Clock,
    Notice,
    plan,
)
from dispatch.leader import Leadership
from hotline.calendar import to_shanghai
from hotline.domain.errors import DomainError
from hotline.domain.lifecycle import Actor, Annotate, Supervise
from hotline.domain.vocabulary import ActorKind, AssignmentStatus, Role
from hotline.reports.schedule import write_due
from hotline.services import ratings
from hotline.services.context import Context
from hotline.services.outbox import Outgoing, enqueue
from hotline.services.tickets import perform_in
from hotline.storage.notices import DeadlineNotice
from hotline.storage.reference import Department
from hotline.storage.tickets import Assignment, Ticket
from hotline.storage.upsert import dialect_insert, dialect_of
from hotline.web.keys import CONTEXT

log = structlog.get_logger(__name__)

SCHEDULER_ACTOR = Actor(ActorKind.SYSTEM, "scheduler")

NOTICE_TEXT = {
    SIGN_OVERDUE: "工单 {number} 已超过签收时限，请尽快签收。",
    DUE_SOON: "工单 {number} 将于 {due} 到期，请按时办理答复。",
    OVERDUE: "工单 {number} 已超过办理时限({due})，请立即办理答复(催办)。",
    ESCALATION: "工单 {number} 超过办理时限仍未答复，已第{level}次督办。",
}


@dataclass
class SweepReport:
    looked_at: int = 0
    sent: list[tuple[str, str, int]] = field(default_factory=list)  # (number, kind, level)
    skipped: int = 0


async def sweep_deadlines(ctx: Context, *, limit: int = 500) -> SweepReport:
    """Send the deadline notices that are due now; each exactly once."""
    now = ctx.clock.now()
    policy = ctx.config.escalation
    report = SweepReport()
    async with ctx.db.sessions() as session, session.begin():
        stmt = (
            select(Assignment, Ticket.number)
            .join(Ticket, Ticket.id == Assignment.ticket_id)
            .where(Assignment.next_notice_at <= now)
            .order_by(Assignment.next_notice_at)
            .limit(limit)
        )
        if dialect_of(session) == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=Assignment)
        rows = [(row[0], row[1]) for row in await session.execute(stmt)]
        if not rows:
            return report
        sent: dict[str, set[tuple[str, int, datetime]]] = {a.id: set() for a, _ in rows}
        for n in await session.scalars(
            select(DeadlineNotice).where(DeadlineNotice.assignment_id.in_(list(sent)))
        ):
            sent[n.assignment_id].add((n.kind, n.level, n.due_at))
        for assignment, number in rows:
            report.looked_at += 1
            clock = Clock(
                AssignmentStatus(assignment.status), assignment.sign_due_at, assignment.due_at
            )
            decided = plan(clock, policy, sent[assignment.id], now)
            for notice in decided.skip:
                await _record(session, assignment, notice, now, "skipped")
                report.skipped += 1
            for notice in decided.fire:
                notice_id = await _record(session, assignment, notice, now, "sent")
                if notice_id is None:
                    continue  # recorded meanwhile by someone else: never twice
                await _act(ctx, session, assignment, number, notice, notice_id)
                report.sent.append((number, notice.kind, notice.level))
            assignment.next_notice_at = decided.next_at
    for number, kind, level in report.sent:
        log.info("deadline notice", number=number, kind=kind, level=level)
    return report


async def _record(
    session: AsyncSession, assignment: Assignment, notice: Notice, now: datetime, outcome: str
) -> int | None:
    stmt = (
        dialect_insert(dialect_of(session), DeadlineNotice)
        .values(
            assignment_id=assignment.id,
            ticket_id=assignment.ticket_id,
            department_code=assignment.department_code,
            kind=notice.kind,
            level=notice.level,
            due_at=notice.due_at,
            fire_at=notice.fire_at,
            fired_at=now,
            outcome=outcome,
        )
        .on_conflict_do_nothing(index_elements=["assignment_id", "kind", "level", "due_at"])
        .returning(DeadlineNotice.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def _act(
    ctx: Context,
    session: AsyncSession,
    assignment: Assignment,
    number: str,
    notice: Notice,
    notice_id: int,
) -> None:
    """The notice's effects, in the sweep's transaction: history, supervision, the message."""
    due = to_shanghai(notice.due_at).strftime("%Y-%m-%d %H:%M")
    text = NOTICE_TEXT[notice.kind].format(number=number, due=due, level=notice.level)
    lead = assignment.role == Role.LEAD.value
    action: Annotate | Supervise | None = None
    if notice.kind == OVERDUE:
        action = Annotate(
            f"系统催办({assignment.department_code})：{text}",
            kind="urge",
            details=(("department", assignment.department_code),),
        )
    elif notice.kind == ESCALATION and lead:
        action = Supervise(f"系统督办第{notice.level}级：{text}")
    if action is not None:
        try:
            await perform_in(ctx, session, number, action, SCHEDULER_ACTOR)
        except DomainError as exc:
            log.warning("notice effect refused", number=number, kind=notice.kind, error=exc.message)
    department = await session.get(Department, assignment.department_code)
    if department is not None and department.webhook_url:
        body = {
            "event": notice.kind,
            "level": notice.level,
            "ticket": number,
            "department": assignment.department_code,
            "due_at": to_shanghai(notice.due_at).isoformat(),
            "message": text,
        }
        await enqueue(
            session,
            [
                Outgoing(
                    kind="webhook",
                    key=f"notice:{notice_id}",
                    recipient=department.webhook_url,
                    body=json.dumps(body, ensure_ascii=False),
                    purpose=notice.kind,
                    ticket_id=assignment.ticket_id,
                    payload={"department": assignment.department_code},
                )
            ],
            ctx.clock.now(),
        )


# -- the timer ---------------------------------------------------------------------------------


#: how long a stopping server lets a scheduled job under way finish before cancelling it
SHUTDOWN_GRACE_SECONDS = 10.0


def setup_scheduler(app: web.Application) -> None:
    """Run the sweeps on APScheduler's timer while the app runs (on the leader instance)."""

    async def scheduler(app: web.Application) -> AsyncIterator[None]:
        ctx = app[CONTEXT]
        leadership = Leadership(ctx.db)
        timer = AsyncIOScheduler(timezone="Asia/Shanghai")
        jobs = (
            (sweep_deadlines, ctx.config.escalation.sweep_seconds),
            (route_received, ctx.config.routing.sweep_seconds),
            (hotspots.refresh, ctx.config.hotspots.sweep_minutes * 60),
            (ratings.sweep, ctx.config.evaluation.sweep_seconds),
        )
        running: set[asyncio.Task[None]] = set()
        for job, seconds in jobs:
            timer.add_job(
                guarded(job, ctx, leadership, running),
                "interval",
                seconds=seconds,
                id=f"{job.__module__}.{job.__name__}",
                max_instances=1,
                coalesce=True,
            )
        # 社情民意 reports (条例第四十七条): once a day, those whose period has just ended
        run_at = ctx.config.reports.run_at
        timer.add_job(
            guarded(write_due, ctx, leadership, running),
            "cron",
            hour=run_at.hour,
            minute=run_at.minute,
            id="hotline.reports.schedule.write_due",
            max_instances=1,
            coalesce=True,
        )
        timer.start()
        yield
        # Stopping: no new runs; a sweep under way finishes its step (each is a transaction of
        # its own) before the timer cancels what is left after the grace period
        timer.pause()
        if running:
            _, late = await asyncio.wait(running, timeout=SHUTDOWN_GRACE_SECONDS)
            if late:
                log.warning("scheduled jobs cancelled at shutdown", jobs=len(late))
        timer.shutdown(wait=False)
        await leadership.release()

    app.cleanup_ctx.append(scheduler)


def guarded(
    job: Callable[[Context], Awaitable[object]],
    ctx: Context,
    leadership: Leadership,
    running: set[asyncio.Task[None]] | None = None,
) -> Callable[[], Awaitable[None]]:
    """The timer's callable: run ``job`` on the leader only, and log (not raise) its failure.
    ``running``: the runs under way are kept there, for a shutdown to let them finish."""

    async def run() -> None:
        task = asyncio.current_task()
        if running is not None and task is not None:
            running.add(task)
            task.add_done_callback(running.discard)
        try:
            if not await leadership.acquire():
                return  # another instance leads
            await job(ctx)
        except Exception:
            log.exception("scheduled job failed", job=getattr(job, "__name__", "?"))

    run.__name__ = getattr(job, "__name__", "job")
    return run
