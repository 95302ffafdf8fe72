"""The transactional outbox: queue messages with the change that causes them, send them later.

Writing: :func:`enqueue` runs inside the caller's transaction (the intake and lifecycle hooks),
so a message exists exactly when the change that caused it was committed. Each message has an
idempotency key; queuing the same key twice keeps the first.

Sending: :func:`run_once` claims due messages (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite
serialises writers already), hands each to the :class:`Sender` registered for its ``kind`` and
records the outcome. The claim is a lease: ``next_attempt_at`` is moved to the end of the lease,
so if the worker dies the message simply falls due again and another worker takes it.

Just before a sender is called the message is marked *started* in its own commit. A worker that
dies between claim and send therefore leaves a message that was never started: it is sent on
the next run, once. One that dies after starting leaves a message *in doubt* (the carrier may
have it); its sender decides what to do: look it up at the carrier (SMS), send it again under
the same idempotency key (partners that deduplicate), or hold it for a person (WeChat).

Failures are data: each try's error is kept, retries back off exponentially, and after
``max_attempts`` the message is dead-lettered, visible to agents, who may retry it.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from hotline.calendar import to_shanghai
from hotline.domain.errors import IllegalTransition, InvalidField, NotFound
from hotline.services.context import Context
from hotline.storage.citizens import Citizen
from hotline.storage.outbox import OutboxMessage
from hotline.storage.tickets import Ticket
from hotline.storage.upsert import dialect_insert, dialect_of

log = structlog.get_logger(__name__)

PENDING, SENDING, SENT, DEAD, CANCELLED = "pending", "sending", "sent", "dead", "cancelled"
STATUSES = (PENDING, SENDING, SENT, DEAD, CANCELLED)
#: errors kept per message (the newest)
MAX_ERRORS = 20

InDoubt = Literal["resend", "lookup", "hold"]


# -- queuing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outgoing:
    """A message to queue. ``key`` makes queuing idempotent and is passed to the carrier."""

    kind: str
    key: str
    recipient: str
    body: str
    purpose: str
    ticket_id: int | None = None
    citizen_id: int | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)


async def enqueue(session: AsyncSession, messages: Sequence[Outgoing], now: datetime) -> None:
    """Queue ``messages`` in the caller's transaction; a key already queued is left alone."""
    if messages:
        await session.run_sync(enqueue_in, messages, now)


def enqueue_in(session: Session, messages: Sequence[Outgoing], now: datetime) -> None:
    """:func:`enqueue` on a synchronous session (the intake's batch)."""
    if not messages:
        return
    rows: list[dict[str, Any]] = [
        {
            "kind": m.kind,
            "key": m.key[:200],
            "recipient": m.recipient,
            "body": m.body,
            "payload": dict(m.payload),
            "purpose": m.purpose,
            "ticket_id": m.ticket_id,
            "citizen_id": m.citizen_id,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "errors": [],
            "delivery_rank": 0,
            "created_at": now,
            "updated_at": now,
        }
        for m in messages
    ]
    stmt = dialect_insert(dialect_of(session), OutboxMessage).on_conflict_do_nothing(
        index_elements=[OutboxMessage.key]
    )
    session.execute(stmt, rows)


# -- senders ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """What a sender gets: a claimed message."""

    id: int
    kind: str
    key: str
    recipient: str
    body: str
    payload: Mapping[str, Any]
    purpose: str
    ticket_id: int | None
    attempts: int
    #: when an earlier try began whose outcome is unknown (None: never tried, or known failed)
    started_at: datetime | None


class SendFailed(Exception):
    """A send that did not succeed.

    ``permanent``: trying again cannot help (an invalid number); the message is dead-lettered.
    ``in_doubt``: the carrier may have got it (a timeout); the next try treats it as in doubt.
    """

    def __init__(self, message: str, *, permanent: bool = False, in_doubt: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.in_doubt = in_doubt


class Sender(Protocol):
    """Sends one kind of message (SMS through Twilio, WeChat customer-service messages, ...)."""

    #: what to do with a message whose earlier try may have reached the carrier
    in_doubt: InDoubt

    async def send(self, message: Message) -> str | None:
        """Send it; return the carrier's id for it, if any. Raise :class:`SendFailed`."""
        ...

    async def lookup(self, message: Message) -> str | None:
        """For ``in_doubt == "lookup"``: the carrier's id if it already has the message."""
        ...


Senders = Mapping[str, Sender]


# -- the worker ------------------------------------------------------------------------------


@dataclass
class RunReport:
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    cancelled: int = 0
    #: in-doubt messages found already sent at the carrier
    reconciled: int = 0
    #: messages another worker took over meanwhile (the lease ran out)
    lost: int = 0


def backoff(ctx: Context, attempts: int, message_id: int) -> timedelta:
    """The wait after the ``attempts``-th failed try: doubling, capped, with a fixed spread
    per message (up to +20%) so that a burst of failures does not retry in lockstep."""
    cfg = ctx.config.channels.outbox
    seconds = min(cfg.backoff_max_seconds, cfg.backoff_seconds * 2 ** max(0, attempts - 1))
    spread = ((message_id * 2654435761) % 1000) / 5000
    return timedelta(seconds=seconds * (1 + spread))


def _message(row: OutboxMessage) -> Message:
    return Message(
        id=row.id,
        kind=row.kind,
        key=row.key,
        recipient=row.recipient,
        body=row.body,
        payload=row.payload or {},
        purpose=row.purpose,
        ticket_id=row.ticket_id,
        attempts=row.attempts,
        started_at=row.started_at,
    )


async def claim(
    ctx: Context, kinds: Sequence[str], now: datetime, token: str, limit: int
) -> list[Message]:
    """Take up to ``limit`` due messages of ``kinds`` for this worker (``token``) for a lease.

    SMS to citizens who opted out (退订) since the message was queued are cancelled here.
    """
    if not kinds:
        return []
    lease = timedelta(seconds=ctx.config.channels.outbox.lease_seconds)
    async with ctx.db.sessions() as session, session.begin():
        stmt = (
            select(OutboxMessage)
            .where(
                OutboxMessage.status.in_((PENDING, SENDING)),
                OutboxMessage.next_attempt_at <= now,
                OutboxMessage.kind.in_(list(kinds)),
            )
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
        )
        if ctx.db.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        rows = list((await session.scalars(stmt)).all())
        opted_out = await _opted_out(session, rows)
        claimed = []
        for row in rows:
            row.updated_at = now
            if row.id in opted_out:
                row.status = CANCELLED
                row.claim_token = None
                row.last_error = "收信人已退订通知短信"
                continue
            row.status = SENDING
            row.claim_token = token
            row.claimed_at = now
            row.next_attempt_at = now + lease
            claimed.append(_message(row))
    return claimed


async def _opted_out(session: AsyncSession, rows: Sequence[OutboxMessage]) -> set[int]:
    citizens = {r.citizen_id for r in rows if r.kind == "sms" and r.citizen_id is not None}
    if not citizens:
        return set()
    stopped = set(
        await session.scalars(
            select(Citizen.id).where(Citizen.id.in_(citizens), Citizen.sms_opt_out_at.is_not(None))
        )
    )
    return {r.id for r in rows if r.kind == "sms" and r.citizen_id in stopped}


async def _update(ctx: Context, message_id: int, token: str, **values: Any) -> bool:
    """Change a message we still hold (our claim token); False if another worker took it."""
    async with ctx.db.sessions() as session, session.begin():
        result = await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.claim_token == token)
            .values(**values)
        )
        return int(result.rowcount or 0) == 1  # type: ignore[attr-defined]


async def _sent(ctx: Context, m: Message, token: str, now: datetime, ref: str | None) -> bool:
    return await _update(
        ctx,
        m.id,
        token,
        status=SENT,
        provider_ref=ref,
        sent_at=now,
        updated_at=now,
        claim_token=None,
        started_at=None,
    )


async def _failed(
    ctx: Context,
    m: Message,
    token: str,
    now: datetime,
    error: str,
    *,
    attempts: int,
    permanent: bool,
    in_doubt: bool,
) -> str:
    """Record a failed try: retry later, or dead-letter. Returns the new status."""
    max_attempts = ctx.config.channels.outbox.max_attempts
    dead = permanent or attempts >= max_attempts
    async with ctx.db.sessions() as session, session.begin():
        row = await session.get(OutboxMessage, m.id, with_for_update=ctx.db.dialect != "sqlite")
        if row is None or row.claim_token != token:
            return "lost"
        row.errors = [
            *(row.errors or [])[-(MAX_ERRORS - 1) :],
            {
                "at": to_shanghai(now).isoformat(),
                "attempt": attempts,
                "error": error,
                "permanent": permanent,
            },
        ]
        row.last_error = error
        row.claim_token = None
        row.updated_at = now
        row.started_at = row.started_at if in_doubt else None
        if dead:
            row.status = DEAD
            row.dead_at = now
        else:
            row.status = PENDING
            row.next_attempt_at = now + backoff(ctx, attempts, m.id)
    return DEAD if dead else PENDING


async def _deliver(
    ctx: Context, sender: Sender, m: Message, token: str, now: datetime, report: RunReport
) -> None:
    attempts = m.attempts
    if m.started_at is not None:  # an earlier try may have reached the carrier
        if sender.in_doubt == "hold":
            status = await _failed(
                ctx,
                m,
                token,
                now,
                "上次发送结果不确定(发送中断)，为免重复发送已暂停，请人工核实后重试",
                attempts=attempts,
                permanent=True,
                in_doubt=True,
            )
            _count(report, status)
            return
        if sender.in_doubt == "lookup":
            try:
                ref = await sender.lookup(m)
            except SendFailed as exc:
                status = await _failed(
                    ctx,
                    m,
                    token,
                    now,
                    exc.message,
                    attempts=attempts,
                    permanent=False,
                    in_doubt=True,
                )
                _count(report, status)
                return
            if ref is not None:
                if await _sent(ctx, m, token, now, ref):
                    report.reconciled += 1
                    report.sent += 1
                else:
                    report.lost += 1
                return
    attempts += 1
    if not await _update(ctx, m.id, token, started_at=now, attempts=attempts, updated_at=now):
        report.lost += 1
        return
    try:
        ref = await sender.send(m)
    except SendFailed as exc:
        status = await _failed(
            ctx,
            m,
            token,
            now,
            exc.message,
            attempts=attempts,
            permanent=exc.permanent,
            in_doubt=exc.in_doubt,
        )
        log.warning("outbox send failed", id=m.id, kind=m.kind, error=exc.message, status=status)
        _count(report, status)
        return
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        status = await _failed(
            ctx, m, token, now, error, attempts=attempts, permanent=False, in_doubt=True
        )
        log.exception("outbox sender raised", id=m.id, kind=m.kind, status=status)
        _count(report, status)
        return
    if await _sent(ctx, m, token, now, ref):
        report.sent += 1
    else:
        report.lost += 1


def _count(report: RunReport, status: str) -> None:
    if status == DEAD:
        report.dead += 1
    elif status == PENDING:
        report.retrying += 1
    else:
        report.lost += 1


ClaimedHook = Callable[[Sequence[Message]], Awaitable[None]]


async def run_once(
    ctx: Context,
    senders: Senders,
    *,
    now: datetime | None = None,
    worker: str | None = None,
    on_claimed: ClaimedHook | None = None,
) -> RunReport:
    """One pass: claim what is due at ``now`` (default: the context's clock) and send it."""
    when = now or ctx.clock.now()
    cfg = ctx.config.channels.outbox
    token = worker or str(uuid.uuid4())
    messages = await claim(ctx, sorted(senders), when, token, cfg.batch_size)
    report = RunReport(claimed=len(messages))
    if on_claimed is not None:
        await on_claimed(messages)
    if not messages:
        return report
    limit = asyncio.Semaphore(cfg.concurrency)

    async def one(m: Message) -> None:
        async with limit:
            await _deliver(ctx, senders[m.kind], m, token, when, report)

    await asyncio.gather(*(one(m) for m in messages))
    return report


async def run_forever(ctx: Context, senders: Senders, stop: asyncio.Event) -> None:
    """The background worker: pass after pass; waits ``poll_seconds`` when nothing was due."""
    poll = ctx.config.channels.outbox.poll_seconds
    log.info("outbox worker started", kinds=sorted(senders))
    while not stop.is_set():
        try:
            report = await run_once(ctx, senders)
        except Exception:
            log.exception("outbox pass failed; retrying")
            report = RunReport()
        if report.claimed and report.claimed >= ctx.config.channels.outbox.batch_size:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=poll)
    log.info("outbox worker stopped")


# -- delivery reports ------------------------------------------------------------------------


async def record_delivery(
    ctx: Context,
    *,
    message_id: int | None,
    provider_ref: str,
    status: str,
    rank: int,
    error_code: str | None = None,
) -> bool:
    """A carrier's delivery report. Only ever moves forward: a report of lower or equal rank
    than the one stored (a repeat, or one that arrives late) changes nothing."""
    who = (
        OutboxMessage.id == message_id
        if message_id is not None
        else OutboxMessage.provider_ref == provider_ref
    )
    values: dict[str, Any] = {
        "delivery_status": status[:16],
        "delivery_rank": rank,
        "updated_at": ctx.clock.now(),
    }
    if error_code:
        values["delivery_error"] = error_code[:32]
    async with ctx.db.sessions() as session, session.begin():
        result = await session.execute(
            update(OutboxMessage).where(who, OutboxMessage.delivery_rank < rank).values(**values)
        )
        if message_id is not None and provider_ref:
            # the report may beat the worker's own record of the carrier's id
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id, OutboxMessage.provider_ref.is_(None))
                .values(provider_ref=provider_ref[:64])
            )
        return int(result.rowcount or 0) > 0  # type: ignore[attr-defined]


# -- for agents ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageView:
    row: OutboxMessage
    ticket_number: str | None


@dataclass(frozen=True)
class MessagePage:
    items: list[MessageView]
    next_cursor: int | None


MAX_PAGE = 200


async def list_messages(
    ctx: Context,
    *,
    status: str | None = None,
    kind: str | None = None,
    ticket: str | None = None,
    limit: int = 50,
    before: int | None = None,
) -> MessagePage:
    if status is not None and status not in STATUSES:
        raise InvalidField("status", f"必须是 {'、'.join(STATUSES)} 之一")
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidField("limit", f"必须在 1 到 {MAX_PAGE} 之间")
    stmt = select(OutboxMessage, Ticket.number).outerjoin(
        Ticket, Ticket.id == OutboxMessage.ticket_id
    )
    if status is not None:
        stmt = stmt.where(OutboxMessage.status == status)
    if kind is not None:
        stmt = stmt.where(OutboxMessage.kind == kind)
    if ticket is not None:
        stmt = stmt.where(Ticket.number == ticket)
    if before is not None:
        stmt = stmt.where(OutboxMessage.id < before)
    stmt = stmt.order_by(OutboxMessage.id.desc()).limit(limit + 1)
    async with ctx.db.sessions() as session:
        rows = list((await session.execute(stmt)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    items = [MessageView(row, number) for row, number in rows]
    return MessagePage(items, items[-1].row.id if more and items else None)


async def get_message(ctx: Context, message_id: int) -> MessageView:
    async with ctx.db.sessions() as session:
        found = (
            await session.execute(
                select(OutboxMessage, Ticket.number)
                .outerjoin(Ticket, Ticket.id == OutboxMessage.ticket_id)
                .where(OutboxMessage.id == message_id)
            )
        ).first()
    if found is None:
        raise NotFound(f"消息 {message_id} 不存在")
    return MessageView(found[0], found[1])


async def retry(ctx: Context, message_id: int, who: str) -> MessageView:
    """Send a dead-lettered message again, now, with a fresh count of tries."""
    now = ctx.clock.now()
    async with ctx.db.sessions() as session, session.begin():
        row = await session.get(OutboxMessage, message_id)
        if row is None:
            raise NotFound(f"消息 {message_id} 不存在")
        if row.status != DEAD:
            raise IllegalTransition(
                f"消息 {message_id} 状态为 {row.status}，只有发送失败(dead)的消息可以重试"
            )
        row.status = PENDING
        row.attempts = 0
        row.next_attempt_at = now
        row.started_at = None  # a person checked: an in-doubt try did not arrive
        row.dead_at = None
        row.updated_at = now
        row.errors = [
            *(row.errors or [])[-(MAX_ERRORS - 1) :],
            {"at": to_shanghai(now).isoformat(), "retry_by": who},
        ]
    return await get_message(ctx, message_id)
