"""Schema and storage guarantees on the real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from pathlib import Path

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from hotline.domain.intake import IntakeValue
from hotline.domain.vocabulary import Channel, TicketType
from hotline.services.context import Context
from hotline.services.intake import take_in
from hotline.storage import db as db_module
from hotline.storage import migrate
from hotline.storage.db import Database, WriterGate, create_database
from hotline.storage.tables import metadata
from hotline.storage.tickets import TicketEvent
from tests.conftest import PG_URL


async def _one_ticket(ctx: Context) -> int:
    result = await take_in(
        ctx,
        IntakeValue(
            channel=Channel.SMS,
            channel_ref="SM-storage-1",
            received_at=ctx.clock.now(),
            content="小区路灯不亮",
            type=TicketType.COMPLAINT,
        ),
    )
    return result.ticket_id


async def test_migrations_match_the_models(ctx: Context) -> None:
    def diff(connection: object) -> list[object]:
        mc = MigrationContext.configure(connection, opts={"compare_type": True})  # type: ignore[arg-type]
        return compare_metadata(mc, metadata)

    async with ctx.db.engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []
    assert await migrate.current_revision(ctx.db.engine) == migrate.head_revision()


@pytest.mark.skipif(PG_URL is not None, reason="rebuilds a private SQLite file")
async def test_upgrade_downgrade_upgrade_on_a_new_sqlite_file(tmp_path: Path) -> None:
    db = create_database(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
    try:
        await migrate.upgrade(db.engine)
        await migrate.downgrade(db.engine)
        assert await migrate.current_revision(db.engine) is None
        await migrate.upgrade(db.engine)
        assert await migrate.current_revision(db.engine) == migrate.head_revision()
    finally:
        await db.dispose()


async def test_history_is_append_only(ctx: Context) -> None:
    ticket_id = await _one_ticket(ctx)
    for statement in (
        f"UPDATE ticket_events SET note = 'changed' WHERE ticket_id = {ticket_id}",  # noqa: S608
        f"DELETE FROM ticket_events WHERE ticket_id = {ticket_id}",  # noqa: S608
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with ctx.db.engine.begin() as conn:
                await conn.execute(text(statement))
    async with ctx.db.sessions() as session:
        events = (await session.scalars(select(TicketEvent))).all()
    assert [(e.action, e.note) for e in events] == [("received", "手机短信")]


async def test_foreign_keys_are_enforced(ctx: Context) -> None:
    with pytest.raises(IntegrityError):
        async with ctx.db.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO assignments (id, ticket_id, department_code, role, status, "
                    "dispatched_at, sign_due_at, return_due_at, due_at, extensions_granted) "
                    "VALUES ('x', 999999, 'NOPE', 'lead', 'dispatched', "
                    "'2026-11-26', '2026-11-26', '2026-11-26', '2026-11-27', 0)"
                )
            )


@pytest.mark.skipif(PG_URL is not None, reason="SQLite pragmas")
async def test_sqlite_runs_in_wal_mode_with_foreign_keys(ctx: Context) -> None:
    async with ctx.db.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1


async def test_timestamps_come_back_aware_in_utc(ctx: Context) -> None:
    await _one_ticket(ctx)
    async with ctx.db.sessions() as session:
        event = (await session.scalars(select(TicketEvent))).one()
    assert event.at.tzinfo is not None
    assert event.at == ctx.clock.now()


def _add_sequence(session: Session, code: str) -> str:
    session.execute(
        text("INSERT INTO ticket_number_sequences (day, last) VALUES (:day, 7)"), {"day": code}
    )
    return threading.current_thread().name


async def _sequence(ctx: Context, day: str) -> int | None:
    return await _sequence_in(ctx.db, day)


async def _sequence_in(db: Database, day: str) -> int | None:
    async with db.sessions() as session:
        found = await session.scalar(
            text("SELECT last FROM ticket_number_sequences WHERE day = :day"), {"day": day}
        )
    return None if found is None else int(found)


async def test_a_unit_of_work_commits_on_the_serving_loop(ctx: Context) -> None:
    """``Database.write`` runs on the calling loop's thread: on a SQLite file with the write
    thread's connection for the loop (the lock was free), elsewhere through ``run_sync``."""
    thread = await ctx.db.write(_add_sequence, "w1")
    assert thread == threading.current_thread().name
    if ctx.db.dialect == "sqlite":
        assert ctx.db.write_thread is not None and ctx.db.writes_on_loop
    else:
        assert ctx.db.write_thread is None and not ctx.db.writes_on_loop
    assert await _sequence(ctx, "w1") == 7  # committed, seen by the serving engine


def _sqlite_path(database_url: str) -> str:
    return database_url.split("///", 1)[1]


@pytest.mark.skipif(bool(PG_URL), reason="SQLite's write lock")
async def test_while_another_process_writes_a_unit_of_work_waits_on_the_thread(
    ctx: Context, database_url: str
) -> None:
    """Another connection (another process) holds SQLite's write lock: the unit of work does
    not wait on the loop, which goes on serving; it waits on the write thread and commits when
    the lock is free."""
    other = sqlite3.connect(_sqlite_path(database_url), isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO ticket_number_sequences (day, last) VALUES ('p1', 1)")
        pending = asyncio.ensure_future(ctx.db.write(_add_sequence, "p2"))
        ticks = 0
        started = time.perf_counter()
        while ticks < 20:  # the loop turns while the unit of work waits
            await asyncio.sleep(0.01)
            ticks += 1
        assert time.perf_counter() - started < 2
        assert not pending.done()
        other.execute("COMMIT")
    finally:
        other.close()
    assert (await pending).startswith("hotline-write")
    assert await _sequence(ctx, "p1") == 1 and await _sequence(ctx, "p2") == 7


@pytest.mark.skipif(bool(PG_URL), reason="SQLite's WAL")
async def test_writes_on_the_loop_keep_the_wal_checkpointed(tmp_path: Path) -> None:
    """The loop's connection never checkpoints; the write thread does every
    ``CHECKPOINT_EVERY`` writes, so the WAL starts over instead of growing with every write."""
    path = tmp_path / "wal.db"
    db = create_database(f"sqlite+aiosqlite:///{path}", write_thread=True)
    try:
        assert db.write_thread is not None
        await db.write(lambda s: s.execute(text("CREATE TABLE blobs (b BLOB)")))
        writes = 8 * db.write_thread.CHECKPOINT_EVERY
        for _ in range(writes):
            await db.write(lambda s: s.execute(text("INSERT INTO blobs VALUES (zeroblob(32768))")))
        await db.write_thread.checkpoint()
        written = writes * 32768
        wal = os.path.getsize(f"{path}-wal")  # noqa: ASYNC240 - a test, one stat
        assert wal < written / 3, (wal, written)
        async with db.reads() as session:
            assert await session.scalar(text("SELECT count(*) FROM blobs")) == writes
    finally:
        await db.dispose()


async def test_a_unit_of_work_that_fails_leaves_nothing(ctx: Context) -> None:
    def fails(session: Session) -> None:
        _add_sequence(session, "w2")
        raise RuntimeError("after the insert")

    with pytest.raises(RuntimeError, match="after the insert"):
        await ctx.db.write(fails)
    assert await _sequence(ctx, "w2") is None


async def test_an_in_memory_database_writes_on_its_loop() -> None:
    db = create_database("sqlite+aiosqlite://", write_thread=True)
    try:
        assert db.write_thread is None
        assert await db.write(lambda s: s.execute(text("SELECT 41 + 1")).scalar_one()) == 42
    finally:
        await db.dispose()


@pytest.mark.skipif(bool(PG_URL), reason="the write thread is SQLite's")
async def test_dispose_finishes_what_was_handed_to_the_write_thread(
    database_url: str,
) -> None:
    db = create_database(database_url, write_thread=True, write_on_loop=False)
    assert not db.writes_on_loop
    started = threading.Event()

    def slow(session: Session) -> None:
        started.set()
        time.sleep(0.2)
        _add_sequence(session, "w3")

    pending = asyncio.ensure_future(db.write(slow))
    await asyncio.to_thread(started.wait, 5)
    await db.dispose()
    await pending
    check = create_database(database_url)
    try:
        async with check.engine.connect() as conn:
            last = await conn.scalar(
                text("SELECT last FROM ticket_number_sequences WHERE day='w3'")
            )
        assert last == 7
    finally:
        await check.dispose()


@pytest.mark.skipif(bool(PG_URL), reason="SQLite's write lock (PostgreSQL readers never wait)")
async def test_a_read_session_does_not_wait_for_a_writer(database_url: str) -> None:
    """While a write transaction is open (a unit of work held open on the write thread), a
    read session answers at once with what was committed before it: it takes no write lock, so
    the writer does not wait for it either."""
    db = create_database(database_url, write_thread=True, write_on_loop=False)
    try:
        await _reads_while_writing(db)
    finally:
        await db.dispose()


async def _reads_while_writing(db: Database) -> None:
    await db.write(_add_sequence, "r1")
    writing, release = threading.Event(), threading.Event()

    def hold(session: Session) -> None:
        _add_sequence(session, "r2")
        writing.set()
        release.wait(10)

    pending = asyncio.ensure_future(db.write(hold))
    try:
        assert await asyncio.to_thread(writing.wait, 5)
        started = time.perf_counter()
        async with db.reads() as session:
            days = set(
                await session.scalars(
                    text("SELECT day FROM ticket_number_sequences WHERE day IN ('r1', 'r2')")
                )
            )
        # the write lock is held until release: a reader that took it would wait 10 s
        assert time.perf_counter() - started < 5
        assert days == {"r1"}
    finally:
        release.set()
        await pending
    assert await _sequence_in(db, "r2") == 7


async def test_a_read_session_cannot_write(ctx: Context) -> None:
    async with ctx.db.reads() as session:
        with pytest.raises(DBAPIError):
            await session.execute(
                text("INSERT INTO ticket_number_sequences (day, last) VALUES ('r3', 1)")
            )
    async with ctx.db.sessions() as session, session.begin():  # a writer after it still can
        await session.execute(
            text("INSERT INTO ticket_number_sequences (day, last) VALUES ('r3', 1)")
        )
    assert await _sequence(ctx, "r3") == 1


@pytest.mark.skipif(bool(PG_URL), reason="SQLite's one writer")
async def test_writers_in_one_process_take_turns(ctx: Context) -> None:
    """A transaction of the async engine that may write holds the process's turn at SQLite's
    writer until its connection goes back to the pool; ``Database.write``'s unit of work starts
    only then (it does not sit in SQLite's busy wait meanwhile), and reads go on."""
    order: list[str] = []

    def unit(session: Session) -> None:
        order.append("unit of work starts")
        _add_sequence(session, "t2")

    async with ctx.db.sessions() as session:
        async with session.begin():
            await session.execute(
                text("INSERT INTO ticket_number_sequences (day, last) VALUES ('t1', 1)")
            )
            pending = asyncio.ensure_future(ctx.db.write(unit))
            for _ in range(20):  # let the unit of work try, if it could
                await asyncio.sleep(0.01)
            assert order == []
            async with ctx.db.reads() as reader:  # a read does not wait for the turn
                assert await reader.scalar(text("SELECT 1")) == 1
            order.append("async transaction commits")
        await session.close()
        await pending
    assert order == ["async transaction commits", "unit of work starts"]
    assert await _sequence(ctx, "t1") == 1 and await _sequence(ctx, "t2") == 7


async def test_the_writer_gate_gives_turns_in_order_and_times_out() -> None:
    gate = WriterGate(timeout=5)
    first, second, third = object(), object(), object()
    await gate.acquire(first)
    order: list[str] = []

    async def take(holder: object, name: str) -> None:
        await gate.acquire(holder)
        order.append(name)

    waiting = [asyncio.ensure_future(take(h, n)) for h, n in ((second, "2"), (third, "3"))]
    await asyncio.sleep(0.01)
    assert order == []
    gate.release(third)  # not the holder: nothing happens
    assert gate.holds(first)
    gate.release(first)
    await waiting[0]
    assert order == ["2"] and gate.holds(second)
    gate.release(second)
    await waiting[1]
    assert order == ["2", "3"] and gate.holds(third)

    stuck = WriterGate(timeout=0.05)
    await stuck.acquire(first)
    with pytest.raises(TimeoutError, match="not free within"):
        await stuck.acquire(second)
    assert stuck.holds(first)


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL's pool (asyncpg)")
@pytest.mark.parametrize("alive_within", [5.0, 0.0])
async def test_pooled_connections_the_server_ended_are_replaced(
    ctx: Context, monkeypatch: pytest.MonkeyPatch, alive_within: float
) -> None:
    """The server ends every backend of the pool (a restart, an administrator): the next
    sessions get fresh connections and nothing fails, whether the closed socket is noticed at
    checkout or a ping (after ``ALIVE_WITHIN_SECONDS`` idle) finds it."""
    monkeypatch.setattr(db_module, "ALIVE_WITHIN_SECONDS", alive_within)
    await _one_ticket(ctx)
    sessions = [ctx.db.sessions() for _ in range(3)]
    for session in sessions:  # three pooled connections
        await session.execute(text("SELECT 1"))
    for session in sessions:
        await session.close()
    assert PG_URL is not None
    killer = await asyncpg.connect(PG_URL.replace("postgresql+asyncpg", "postgresql"))
    try:
        ended = await killer.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'"
        )
    finally:
        await killer.close()
    assert ended >= 1
    await asyncio.sleep(0.2)
    thread = await ctx.db.write(_add_sequence, "k1")
    assert thread == threading.current_thread().name
    assert await _sequence(ctx, "k1") == 7
    async with ctx.db.reads() as session:
        assert await session.scalar(text("SELECT count(*) FROM tickets")) == 1
