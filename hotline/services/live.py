"""The live bus: small events about tickets, calls and agents, published in the transaction that
causes them and delivered to every app instance once it commits.

* PostgreSQL: ``SELECT pg_notify('hotline_live', payload)`` inside the transaction. PostgreSQL
  delivers a notification only when (and if) its transaction commits, to every connection that
  listens, so every app instance hears every change, in commit order. Each app keeps one
  listener connection (asyncpg ``LISTEN``), opened by :func:`open_hub`.
* SQLite has no notifications: events wait in the session and are handed, after the commit, to
  the hubs of this process that serve the same database (so two app instances in one process
  still see the same thing; two processes on one SQLite file do not — use PostgreSQL for that).

An event is a small JSON object with a ``kind`` (``ticket``, ``call``, ``agent``) and ids and
codes only — never a citizen's words, names or numbers: pages fetch what they show through the
access checks of an ordinary request. A notification payload carries a list of events and stays
under PostgreSQL's 8000-byte limit (a group commit of many tickets is split).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import weakref
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import structlog
from sqlalchemy import bindparam, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from hotline.domain.intake import IntakeValue
from hotline.services.context import Context
from hotline.services.hooks import IntakeHook, NewTicket, TicketChange
from hotline.storage.calls import AgentState, Call
from hotline.storage.rows import RowQuery
from hotline.storage.upsert import dialect_of

log = structlog.get_logger(__name__)

CHANNEL = "hotline_live"
#: PostgreSQL refuses notification payloads of 8000 bytes and more
MAX_PAYLOAD = 7000
#: events waiting for a slow subscriber before it is told to resynchronise instead
MAX_QUEUE = 1000

LiveEvent = dict[str, Any]

_PENDING = "hotline.live.pending"


def encode(events: Sequence[LiveEvent]) -> list[str]:
    """Payloads of at most ``MAX_PAYLOAD`` bytes, each a JSON list of events."""
    payloads: list[str] = []
    batch: list[str] = []
    size = 2
    for item in events:
        one = json.dumps(item, ensure_ascii=False, separators=(",", ":"))
        if batch and size + len(one.encode()) + 1 > MAX_PAYLOAD:
            payloads.append("[" + ",".join(batch) + "]")
            batch, size = [], 2
        batch.append(one)
        size += len(one.encode()) + 1
    if batch:
        payloads.append("[" + ",".join(batch) + "]")
    return payloads


def decode(payload: str) -> list[LiveEvent]:
    try:
        value = json.loads(payload)
    except ValueError:
        log.warning("live: unreadable payload dropped", payload=payload[:200])
        return []
    if isinstance(value, dict):
        value = [value]
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


# -- publishing --------------------------------------------------------------------------------


async def publish(ctx: Context, session: AsyncSession, *events: LiveEvent) -> None:
    """Publish ``events`` when the session's transaction commits (dropped if it rolls back)."""
    if events:
        await session.run_sync(publish_in, ctx, *events)


def publish_in(session: Session, ctx: Context, *events: LiveEvent) -> None:
    """:func:`publish` on a synchronous session (the intake's batch, maybe on another thread:
    the hubs hand what they get to their own loop)."""
    if not events:
        return
    if dialect_of(session) == "postgresql":
        conn = session.connection()
        for payload in encode(events):
            _NOTIFY.run(conn, {"channel": CHANNEL, "payload": payload})
        return
    pending: list[tuple[str, LiveEvent]] = session.info.setdefault(_PENDING, [])
    pending.extend((ctx.settings.database_url, e) for e in events)


_NOTIFY = RowQuery(
    select(func.pg_notify(bindparam("channel"), bindparam("payload")).label("notified"))
)


# Listened on every session once (a listener added per session cost more than the intake's
# whole live-event work): a session with nothing pending pops nothing.
@event.listens_for(Session, "after_commit")
def _deliver_pending(session: Session) -> None:
    pending: list[tuple[str, LiveEvent]] = session.info.pop(_PENDING, [])
    by_url: dict[str, list[LiveEvent]] = {}
    for url, item in pending:
        by_url.setdefault(url, []).append(item)
    for url, items in by_url.items():
        with _hubs_lock:  # the intake's write thread delivers too
            hubs = list(_local_hubs.get(url, ()))
        for hub in hubs:
            hub.deliver(items)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


#: SQLite: the hubs of this process by database URL (weak: a closed app's hub goes away)
_local_hubs: dict[str, weakref.WeakSet[Hub]] = {}
_hubs_lock = threading.Lock()


# -- what is published -------------------------------------------------------------------------


def ticket_event(change: TicketChange) -> LiveEvent:
    state = change.state
    return {
        "kind": "ticket",
        "number": state.number,
        "action": change.event.action,
        "status": state.status.value,
        "version": state.version,
        "departments": sorted({a.department for a in state.assignments}),
        "channel": change.ticket.origin_channel,
        "urgent": state.classification.urgency.value == "urgent",
        "actor": change.event.actor.label,
    }


def new_ticket_event(number: str, value: IntakeValue) -> LiveEvent:
    return {
        "kind": "ticket",
        "number": number,
        "action": "received",
        "status": "received",
        "version": 1,
        "departments": [],
        "channel": value.channel.value,
        "urgent": value.urgency.value == "urgent",
        "actor": "",
    }


def call_event(name: str, call: Call, **extra: Any) -> LiveEvent:
    """``name``: arrived, queued, offered, answered, requeued, abandoned, ended, stage, transfer."""
    return {
        "kind": "call",
        "event": name,
        "call_sid": call.call_sid,
        "stage": call.stage,
        "agent": call.agent_id,
        **extra,
    }


def agent_event(agent: AgentState) -> LiveEvent:
    return {
        "kind": "agent",
        "user": agent.user_id,
        "state": agent.state,
        "call_sid": agent.current_call_sid,
    }


async def publish_call(
    ctx: Context, session: AsyncSession, name: str, call: Call, **extra: Any
) -> None:
    await publish(ctx, session, call_event(name, call, **extra))


async def publish_agents(ctx: Context, session: AsyncSession, *agents: AgentState | None) -> None:
    await publish(ctx, session, *(agent_event(a) for a in agents if a is not None))


def install(ctx: Context) -> None:
    """Publish every new ticket and every lifecycle event (called by ``hotline.bootstrap``)."""

    def on_intake(session: Session, tickets: Sequence[NewTicket]) -> None:
        publish_in(session, ctx, *(new_ticket_event(t.number, t.value) for t in tickets))

    def notices(tickets: Sequence[tuple[str, IntakeValue]]) -> list[tuple[str, str]]:
        # what on_intake does on PostgreSQL, for the intake's one-statement batch
        return [(CHANNEL, p) for p in encode([new_ticket_event(n, v) for n, v in tickets])]

    async def on_event(session: AsyncSession, change: TicketChange) -> None:
        await publish(ctx, session, ticket_event(change))

    ctx.hooks.on_intake.append(IntakeHook(on_intake, notices=notices))
    ctx.hooks.on_event.append(on_event)


# -- receiving ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    """Events delivered together, with their JSON message for the pages, written once for all
    the subscribers that may see every event in it."""

    events: list[LiveEvent]
    text: str

    @classmethod
    def of(cls, events: list[LiveEvent]) -> Batch:
        return cls(events, message(events))


def message(events: list[LiveEvent]) -> str:
    """What a page receives: ``{"events": [...]}``."""
    return json.dumps({"events": events}, ensure_ascii=False, separators=(",", ":"))


RESYNC = Batch.of([{"kind": "resync"}])


@dataclass(eq=False)
class Subscription:
    """One subscriber's queue. When it falls ``MAX_QUEUE`` batches behind, the backlog is
    dropped and replaced by one ``resync`` event: the page reloads what it shows."""

    queue: asyncio.Queue[Batch] = field(default_factory=lambda: asyncio.Queue(maxsize=MAX_QUEUE))

    def put(self, batch: Batch) -> None:
        try:
            self.queue.put_nowait(batch)
        except asyncio.QueueFull:
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(RESYNC)

    async def get(self) -> Batch:
        return await self.queue.get()


def _running(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


class Hub:
    """Fan-out of the live events to this app's subscribers (its WebSockets)."""

    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()
        #: the loop the subscribers wait on (events committed on another thread go through it)
        self._loop: asyncio.AbstractEventLoop | None = None
        with contextlib.suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()
        #: events delivered since the hub opened (for metrics and tests)
        self.delivered = 0
        self.connected = True

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    @contextmanager
    def subscribe(self) -> Iterator[Subscription]:
        sub = Subscription()
        self._subscribers.add(sub)
        try:
            yield sub
        finally:
            self._subscribers.discard(sub)

    def deliver(self, events: list[LiveEvent]) -> None:
        if not events:
            return
        loop = self._loop
        if loop is not None and not _running(loop):  # committed by the intake's thread
            with contextlib.suppress(RuntimeError):  # a closed loop has nobody to tell
                loop.call_soon_threadsafe(self.deliver, events)
            return
        self.delivered += len(events)
        if not self._subscribers:  # nobody to write the message for
            return
        batch = Batch.of(events)
        for sub in list(self._subscribers):
            sub.put(batch)

    def deliver_payload(self, payload: str) -> None:
        self.deliver(decode(payload))


class PostgresListener:
    """One asyncpg connection that LISTENs and hands notifications to the hub; reconnects with
    backoff when the connection is lost, then tells every page to resynchronise (notifications
    sent meanwhile are lost)."""

    def __init__(self, url: str, hub: Hub) -> None:
        self._url = url
        self._hub = hub
        self._conn: asyncpg.Connection | None = None
        self._closing = False
        self._reconnect: asyncio.Task[None] | None = None

    def _connect_args(self) -> dict[str, Any]:
        u = make_url(self._url)
        args: dict[str, Any] = {
            "host": u.host or "localhost",
            "port": u.port or 5432,
            "user": u.username,
            "password": u.password,
            "database": u.database,
            "server_settings": {"application_name": "hotline-live"},
        }
        ssl = u.query.get("ssl") or u.query.get("sslmode")
        if isinstance(ssl, str):
            args["ssl"] = ssl
        return args

    async def start(self) -> None:
        self._conn = await asyncpg.connect(**self._connect_args())
        await self._conn.add_listener(CHANNEL, self._on_notify)
        self._conn.add_termination_listener(self._on_lost)
        self._hub.connected = True

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self._hub.deliver_payload(payload)

    def _on_lost(self, _conn: object) -> None:
        if self._closing:
            return
        self._hub.connected = False
        log.warning("live: listener connection lost, reconnecting")
        if self._reconnect is None or self._reconnect.done():
            self._reconnect = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        delay = 0.5
        while not self._closing:
            try:
                await self.start()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("live: reconnect failed", error=str(exc), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
            else:
                log.info("live: listener reconnected")
                self._hub.deliver([{"kind": "resync"}])
                return

    async def stop(self) -> None:
        self._closing = True
        if self._reconnect is not None:
            self._reconnect.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnect
        if self._conn is not None and not self._conn.is_closed():
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                await self._conn.remove_listener(CHANNEL, self._on_notify)
            await self._conn.close(timeout=5)


@asynccontextmanager
async def open_hub(ctx: Context) -> AsyncIterator[Hub]:
    """This app's hub, fed by LISTEN on PostgreSQL or by this process's commits on SQLite."""
    hub = Hub()
    url = ctx.settings.database_url
    if ctx.db.dialect == "postgresql":
        listener = PostgresListener(url, hub)
        await listener.start()
        try:
            yield hub
        finally:
            await listener.stop()
        return
    with _hubs_lock:
        hubs = _local_hubs.setdefault(url, weakref.WeakSet())
        hubs.add(hub)
    try:
        yield hub
    finally:
        with _hubs_lock:
            hubs.discard(hub)
            if not hubs:
                _local_hubs.pop(url, None)
