"""Schema and storage guarantees on the real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from hotline.domain.intake import IntakeValue
from hotline.domain.vocabulary import Channel, TicketType
from hotline.services.context import Context
from hotline.services.intake import take_in
from hotline.storage import migrate
from hotline.storage.db import create_database
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
