"""The async engine and session factory. Created by the app's cleanup context, never at import.

``Database.write`` runs a synchronous unit of work (``fn(session, *args)``) in one
transaction. On a SQLite file it runs with a synchronous (pysqlite) connection of its own
(``WriteThread``): on the serving loop while SQLite's write lock is free at once, on the write
thread, waiting for the lock, while another process holds it. Elsewhere it runs on the event
loop through ``AsyncSession.run_sync``. The intake's group commit goes this way: through
aiosqlite, every cursor, statement, fetch and close is a trip to aiosqlite's thread and back,
a dozen statements took some thirty trips, and on a busy serving loop each trip also waited its
turn behind the requests being handled. With its own connection the batch is one call.

``Database.reads`` gives sessions for reading only. On SQLite a write transaction takes the
database's one write lock at BEGIN (``BEGIN IMMEDIATE``, see ``_configure_sqlite``); a read
session begins deferred instead and, in WAL mode, never waits for a writer nor makes one wait
(a console page or the routing sweep's reads no longer hold up the intake's batch). Such a
session cannot write: its connection is ``PRAGMA query_only`` for the transaction (on
PostgreSQL, which never makes readers wait, it is a ``READ ONLY`` transaction).

Writers within one process take turns at SQLite's one writer at a ``WriterGate`` (first come,
first served) instead of polling in SQLite's busy handler.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.util import await_only

T = TypeVar("T")

log = structlog.get_logger(__name__)

#: execution option of the engine behind ``Database.reads``
READ_ONLY = "hotline_read_only"


class WriterGate:
    """Turns at SQLite's one writer for this process, first come, first served.

    SQLite's own wait (``busy_timeout``) polls: a writer that finds the lock taken sleeps 1, 2,
    5, 10 … ms between tries, and the lock may sit free meanwhile while the next writer sleeps.
    Within one process the writers queue here instead: the write thread's units of work
    (``Database.write``) and each connection of the async engine from the BEGIN of a transaction
    that may write until the connection goes back to the pool. Other processes on the same file
    still meet SQLite's own wait.
    """

    def __init__(self, timeout: float) -> None:
        self._lock = asyncio.Lock()
        self._timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._holder: object | None = None

    async def acquire(self, holder: object) -> None:
        try:
            async with asyncio.timeout(self._timeout):  # wait_for would add a task per turn
                await self._lock.acquire()
        except TimeoutError:
            raise TimeoutError(
                f"SQLite's writer was not free within {self._timeout:.0f} s"
            ) from None
        self._loop = asyncio.get_running_loop()
        self._holder = holder

    def release(self, holder: object) -> None:
        """Release if ``holder`` has the turn; from any thread (a connection may go back to the
        pool from the garbage collector)."""
        if self._holder is not holder:
            return
        self._holder = None
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None and running is self._loop:
            self._lock.release()
        elif self._loop is not None:
            self._loop.call_soon_threadsafe(self._lock.release)

    def holds(self, holder: object) -> bool:
        return self._holder is holder


class WriteThread:
    """A synchronous engine (pysqlite) on the same SQLite file, for ``Database.write``.

    With ``on_loop`` a unit of work runs on the calling (serving) thread when SQLite's write
    lock is free at once, and on the write thread, waiting for the lock, when it is not (another
    process is writing). The units of work are Python from end to end (building rows, the
    column types' processors, hooks); on a thread of their own they only competed with the
    serving loop for the interpreter lock, and the switches cost more than SQLite's own work
    that could run meanwhile (docs/performance.md). On the loop a unit never waits: the loop's
    connection has no busy timeout, and it never checkpoints the WAL itself (a checkpoint
    copies pages into the database file and syncs it). Every ``CHECKPOINT_EVERY`` units the
    thread does, taking its turn at the ``gate`` like a writer, so that nothing is appended
    while it copies and the WAL starts over from its beginning with the next write.
    """

    #: writes on the loop between two WAL checkpoints (SQLite's own automatic checkpoint comes
    #: after 1000 pages; a batch of contacts writes some tens)
    CHECKPOINT_EVERY = 16

    def __init__(
        self, url: str, *, echo: bool, gate: WriterGate | None = None, on_loop: bool = True
    ) -> None:
        sync_url = make_url(url).set(drivername="sqlite+pysqlite")
        # The connection is only ever used by the one thread; it is closed from another at
        # dispose, which pysqlite refuses unless told.
        self.engine: Engine = create_engine(
            sync_url, echo=echo, connect_args={"timeout": 30, "check_same_thread": False}
        )
        _configure_sqlite(self.engine)
        self.gate = gate
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="hotline-write")
        #: the serving thread's connection: no busy wait, no automatic checkpoint
        self.loop_engine: Engine | None = None
        if on_loop:
            self.loop_engine = create_engine(
                sync_url, echo=echo, connect_args={"timeout": 0, "check_same_thread": False}
            )
            _configure_sqlite(self.loop_engine, busy_timeout_ms=0, autocheckpoint=0)
        self._loop_writes = 0
        self._checkpoint: asyncio.Task[None] | None = None

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        turn = object()
        if self.gate is not None:
            await self.gate.acquire(turn)
        kept = False  # the turn passed on to a checkpoint, which gives it back
        try:
            if self.loop_engine is not None:
                try:
                    result = self._on_loop(self.loop_engine, fn, *args)
                except _LockTaken:  # another process is writing: wait for it on the thread
                    log.debug("sqlite write lock held elsewhere: writing on the write thread")
                else:
                    self._loop_writes += 1
                    if self._loop_writes % self.CHECKPOINT_EVERY == 0:
                        kept = self._start_checkpoint(turn)
                    return result
            call = functools.partial(self._in_transaction, fn, *args)
            return await asyncio.get_running_loop().run_in_executor(self._executor, call)
        finally:
            if self.gate is not None and not kept:
                self.gate.release(turn)

    @staticmethod
    def _on_loop(engine: Engine, fn: Callable[..., T], *args: Any) -> T:
        """``fn(session, *args)``, committed; ``_LockTaken`` if another connection holds the
        write lock (nothing was run)."""
        with Session(engine, expire_on_commit=False) as session:
            try:
                session.connection()  # BEGIN IMMEDIATE, refused at once if the lock is taken
            except OperationalError as exc:
                if _locked(exc):
                    raise _LockTaken from exc
                raise
            result = fn(session, *args)
            session.commit()
            return result

    def _in_transaction(self, fn: Callable[..., T], *args: Any) -> T:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            return fn(session, *args)

    def _start_checkpoint(self, turn: object) -> bool:
        """Checkpoint on the thread in ``turn`` (the writers' turn just used on the loop): the
        next writers queue behind it, while the loop goes on. False if one is still running."""
        if self._checkpoint is not None and not self._checkpoint.done():
            return False
        self._checkpoint = asyncio.ensure_future(self._checkpoint_in(turn))
        return True

    async def checkpoint(self) -> None:
        """Copy what the WAL holds into the database file, in the writers' turn."""
        turn = object()
        if self.gate is not None:
            await self.gate.acquire(turn)
        await self._checkpoint_in(turn)

    async def _checkpoint_in(self, turn: object) -> None:
        """PASSIVE: readers go on; pages a reader still uses are copied next time. With no
        writer in the meantime, the next write starts the WAL over from its beginning."""
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._wal_checkpoint)
        except Exception as exc:  # noqa: BLE001 - the next one tries again; writes go on
            log.warning("WAL checkpoint failed", error=repr(exc))
        finally:
            if self.gate is not None:
                self.gate.release(turn)

    def _wal_checkpoint(self) -> None:
        raw = self.engine.raw_connection()  # autocommit (isolation_level None): no BEGIN
        try:
            cursor = raw.cursor()
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
            cursor.close()
        finally:
            raw.close()

    async def close(self) -> None:
        """Finish what was handed over (nothing is dropped), then close the connections."""
        if self._checkpoint is not None:
            await self._checkpoint
        await asyncio.to_thread(self._executor.shutdown, wait=True)
        self.engine.dispose()
        if self.loop_engine is not None:
            self.loop_engine.dispose()


class _LockTaken(Exception):
    """SQLite's write lock is held by another connection."""


def _locked(exc: OperationalError) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED: another connection holds the lock."""
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


@dataclass(frozen=True)
class Database:
    engine: AsyncEngine
    #: sessions that may write
    sessions: async_sessionmaker[AsyncSession]
    #: sessions that only read (on SQLite: no write lock taken, writes refused)
    reads: async_sessionmaker[AsyncSession]
    write_thread: WriteThread | None = None
    #: SQLite: the process's writers take turns here (``WriterGate``)
    gate: WriterGate | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def writes_on_loop(self) -> bool:
        """Whether ``write`` may run its unit of work on the loop from start to commit without
        yielding (SQLite with the loop's connection): nothing else runs meanwhile."""
        return self.write_thread is not None and self.write_thread.loop_engine is not None

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(session, *args)`` with a synchronous ``Session`` in a transaction of its own,
        committed when ``fn`` returns (rolled back if it raises)."""
        if self.write_thread is not None:
            return await self.write_thread.run(fn, *args)
        async with self.sessions() as session, session.begin():
            return await session.run_sync(fn, *args)

    @property
    def statements_alone(self) -> bool:
        """Whether ``alone`` may be used: PostgreSQL through asyncpg (``hotline.storage.rows``
        sends its statements to asyncpg itself)."""
        return self.engine.dialect.name == "postgresql" and self.engine.dialect.driver == "asyncpg"

    async def alone(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(connection, *args)`` on a synchronous connection in no transaction: each
        statement ``fn`` sends through ``hotline.storage.rows`` (``Chain``) is its own."""
        async with self.engine.connect() as conn:
            return await conn.run_sync(fn, *args)

    async def dispose(self) -> None:
        if self.write_thread is not None:
            await self.write_thread.close()
        await self.engine.dispose()


def _configure_sqlite(
    engine: AsyncEngine | Engine,
    gate: WriterGate | None = None,
    *,
    busy_timeout_ms: int = 10_000,
    autocheckpoint: int | None = None,
) -> None:
    """WAL, foreign keys, and BEGIN IMMEDIATE for a transaction that may write.

    SQLite lets one writer at a time. A deferred transaction that reads and then writes can fail
    at once with SQLITE_BUSY when another connection wrote meanwhile (busy_timeout cannot help
    a snapshot upgrade), so a transaction that may write takes the write lock at BEGIN and waits
    for it. A read-only one (``READ_ONLY``) begins deferred, with ``query_only`` on. With a
    ``gate`` (the async engine's), a connection takes its turn there before its first BEGIN
    IMMEDIATE and gives it back when it returns to the pool. ``autocheckpoint``: WAL pages
    after which a commit checkpoints (SQLite's default 1000; 0: never, another connection
    does it).
    """
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        if autocheckpoint is not None:
            cursor.execute(f"PRAGMA wal_autocheckpoint={int(autocheckpoint)}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = bool(connection.get_execution_options().get(READ_ONLY, False))
        state = connection.connection.info  # the pooled connection's own: lasts as long as it
        if state.get("query_only", False) != read_only:
            connection.exec_driver_sql(f"PRAGMA query_only={'ON' if read_only else 'OFF'}")
            state["query_only"] = read_only
        if gate is not None and not read_only:
            holder = connection.connection.record_info  # the pool entry's, as at checkin
            if holder is not None and not gate.holds(holder):
                # in SQLAlchemy's greenlet for the async engine: wait for the turn on the loop
                await_only(gate.acquire(holder))
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    if gate is not None:

        @event.listens_for(sync_engine, "checkin")
        def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
            gate.release(record.record_info)


#: a pooled asyncpg connection given back less than this many seconds ago is used without a
#: ping (unless it has seen its socket close)
ALIVE_WITHIN_SECONDS = 5.0
#: key in a pool entry's ``info``: when the connection was last given back (monotonic clock)
_RETURNED_AT = "hotline_returned_at"


def _configure_asyncpg(engine: AsyncEngine) -> None:
    """Pessimistic disconnect handling for asyncpg, cheaper than ``pool_pre_ping``.

    SQLAlchemy's ping for asyncpg is three round trips (BEGIN, an empty query, ROLLBACK, for
    pgbouncer's transaction mode), at every checkout: on the intake's batch three of its
    thirteen. Here a connection whose socket has closed (the server restarted or ended its
    backend) is discarded at once, without a trip; one idle for more than
    ``ALIVE_WITHIN_SECONDS`` is pinged with one empty query first; one given back moments ago
    (the usual case under load) is used as it is. A ``DisconnectionError`` from the checkout
    makes the pool discard the connection and take another (SQLAlchemy's documented way).
    """
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _connected(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(sync_engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(sync_engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        driver = dbapi_connection.driver_connection
        if driver.is_closed():
            raise DisconnectionError("the connection was closed")
        if time.monotonic() - record.info.get(_RETURNED_AT, 0.0) > ALIVE_WITHIN_SECONDS:
            try:
                await_only(driver.fetchrow(";"))
            except Exception as exc:
                raise DisconnectionError(f"ping failed: {exc!r}") from exc


def _sqlite_file(url: str) -> bool:
    parsed = make_url(url)
    name = parsed.database or ""
    return (
        parsed.get_backend_name() == "sqlite"
        and name not in ("", ":memory:")
        and parsed.query.get("mode") != "memory"
    )


def create_database(
    url: str,
    *,
    echo: bool = False,
    pool_size: int = 10,
    write_thread: bool = False,
    write_on_loop: bool = True,
) -> Database:
    """``write_thread``: give a SQLite file a write thread (see the module's text); an
    in-memory database has none (a second connection would see another database).
    ``write_on_loop``: with it, units of work run on the serving loop while the write lock is
    free at once (``WriteThread``)."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": 30}
    else:
        if parsed.get_driver_name() == "asyncpg" and "prepared_statement_cache_size" not in (
            parsed.query
        ):
            # Multi-row inserts of varying size are distinct statements: keep more prepared.
            url = parsed.update_query_dict(
                {"prepared_statement_cache_size": "500"}
            ).render_as_string(hide_password=False)
        kwargs["pool_size"] = pool_size
        kwargs["max_overflow"] = pool_size
        # asyncpg: the checkout check of _configure_asyncpg instead (pre_ping's costs three
        # round trips at every checkout)
        kwargs["pool_pre_ping"] = parsed.get_driver_name() != "asyncpg"
    engine = create_async_engine(url, **kwargs)
    if parsed.get_driver_name() == "asyncpg":
        _configure_asyncpg(engine)
    thread = None
    gate = None
    if engine.dialect.name == "sqlite":
        gate = WriterGate(timeout=10)
        _configure_sqlite(engine, gate)
        if write_thread and _sqlite_file(url):
            thread = WriteThread(url, echo=echo, gate=gate, on_loop=write_on_loop)
    # PostgreSQL: READ ONLY transactions (asyncpg's own); SQLite: see _configure_sqlite
    read_only: dict[str, Any] = {READ_ONLY: True}
    if engine.dialect.name == "postgresql":
        read_only["postgresql_readonly"] = True
    return Database(
        engine,
        async_sessionmaker(engine, expire_on_commit=False),
        async_sessionmaker(engine.execution_options(**read_only), expire_on_commit=False),
        thread,
        gate,
    )
