"""The tamper-evident history: every stored event is chained; tampering is found and named."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from dispatch.service import dispatch_to
from hotline.bootstrap import bootstrap
from hotline.domain.intake import IntakeValue
from hotline.domain.lifecycle import SYSTEM, Progress, Sign
from hotline.domain.vocabulary import Channel, TicketType
from hotline.services.audit import verify
from hotline.services.context import Context
from hotline.services.intake import take_in
from hotline.services.tickets import perform
from hotline.storage import migrate
from hotline.storage.db import create_database
from tests.conftest import PG_URL, make_settings
from tests.factories import dept


async def history(ctx: Context, n: int = 3) -> list[str]:
    numbers = []
    for i in range(n):
        made = await take_in(
            ctx,
            IntakeValue(
                channel=Channel.API,
                channel_ref=f"a{i}",
                received_at=ctx.clock.now(),
                content="路灯不亮",
                type=TicketType.COMPLAINT,
                category="municipal",
            ),
        )
        await dispatch_to(ctx, made.number, "CGJ", SYSTEM)
        await perform(ctx, made.number, Sign("CGJ"), dept("CGJ"))
        await perform(ctx, made.number, Progress("CGJ", "已派人"), dept("CGJ"))
        numbers.append(made.number)
    return numbers


async def tamper(ctx: Context, sql: str, params: dict[str, object]) -> None:
    """What only someone with database rights could do: lift the trigger, change a row."""
    async with ctx.db.engine.begin() as conn:
        if ctx.db.dialect == "postgresql":
            await conn.execute(text("ALTER TABLE ticket_events DISABLE TRIGGER USER"))
            await conn.execute(text(sql), params)
            await conn.execute(text("ALTER TABLE ticket_events ENABLE TRIGGER USER"))
        else:
            await conn.execute(text("DROP TRIGGER ticket_events_no_update"))
            await conn.execute(text("DROP TRIGGER ticket_events_no_delete"))
            await conn.execute(text(sql), params)


async def test_an_untouched_history_verifies(ctx: Context) -> None:
    await history(ctx)
    result = await verify(ctx)
    assert result.broken is None
    assert (result.tickets, result.events) == (3, 12)


async def test_a_changed_note_is_named(ctx: Context) -> None:
    numbers = await history(ctx)
    await tamper(
        ctx,
        "UPDATE ticket_events SET note = '未派人' WHERE seq = 4 AND ticket_id = "
        "(SELECT id FROM tickets WHERE number = :n)",
        {"n": numbers[1]},
    )
    broken = (await verify(ctx)).broken
    assert broken is not None
    assert (broken.number, broken.seq) == (numbers[1], 4)
    assert "changed" in broken.reason


async def test_a_deleted_event_is_named(ctx: Context) -> None:
    numbers = await history(ctx)
    await tamper(
        ctx,
        "DELETE FROM ticket_events WHERE seq = 2 AND ticket_id = "
        "(SELECT id FROM tickets WHERE number = :n)",
        {"n": numbers[2]},
    )
    broken = (await verify(ctx)).broken
    assert broken is not None and (broken.number, broken.seq) == (numbers[2], 2)


async def test_a_removed_last_event_is_found_by_the_version(ctx: Context) -> None:
    numbers = await history(ctx, 1)
    await tamper(
        ctx,
        "DELETE FROM ticket_events WHERE seq = 4 AND ticket_id = "
        "(SELECT id FROM tickets WHERE number = :n)",
        {"n": numbers[0]},
    )
    broken = (await verify(ctx)).broken
    assert broken is not None and "missing" in broken.reason


def audit_verify(ctx: Context, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hotline.cli", "audit", "verify"],
        cwd=cwd,
        env={**os.environ, "HOTLINE_DATABASE_URL": ctx.settings.database_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_hotline_audit_verify_names_the_tampered_event(ctx: Context, tmp_path: Path) -> None:
    numbers = await history(ctx)
    intact = audit_verify(ctx, tmp_path)
    assert intact.returncode == 0, intact.stderr
    assert "history intact: 3 tickets, 12 events checked" in intact.stdout
    await tamper(
        ctx,
        "UPDATE ticket_events SET note = '已办结' WHERE seq = 4 AND ticket_id = "
        "(SELECT id FROM tickets WHERE number = :n)",
        {"n": numbers[0]},
    )
    broken = audit_verify(ctx, tmp_path)
    assert broken.returncode == 1, broken.stderr
    assert f"history BROKEN at ticket {numbers[0]}, event 4" in broken.stdout


@pytest.mark.skipif(PG_URL is not None, reason="builds a private SQLite file at an old revision")
async def test_the_migration_chains_an_existing_history(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    db = create_database(url)
    await migrate.upgrade(db.engine, "0005")
    async with db.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO tickets (id, number, content, urgency, status, origin_channel, "
                "confidential, supervision_level, repeat_count, reopen_count, returns_approved, "
                "triage_reasons, received_at, created_at, updated_at, version) VALUES (1, "
                "'AY20260101-000001', '旧工单', 'normal', 'triaged', 'api', 0, 0, 0, 0, 0, '[]', "
                "'2026-01-01 02:00:00', '2026-01-01 02:00:00', '2026-01-01 02:00:00', 2)"
            )
        )
        for seq, action, before, after in (
            (1, "received", None, "received"),
            (2, "triaged", "received", "awaiting_dispatch"),
        ):
            await conn.execute(
                text(
                    "INSERT INTO ticket_events (ticket_id, seq, at, actor_kind, actor_id, action,"
                    " status_before, status_after, note, data) VALUES (1, :seq, "
                    "'2026-01-01 02:00:00', 'system', 'hotline', :a, :b, :s, NULL, '{}')"
                ),
                {"seq": seq, "a": action, "b": before, "s": after},
            )
    await migrate.upgrade(db.engine)
    await db.dispose()
    ctx = bootstrap(make_settings(url, tmp_path))
    try:
        result = await verify(ctx)
        assert result.broken is None and result.events == 2
        async with ctx.db.engine.begin() as conn:  # the trigger is back after the backfill
            with pytest.raises(Exception, match="append-only"):
                await conn.execute(text("UPDATE ticket_events SET note = 'x'"))
    finally:
        await ctx.db.dispose()
