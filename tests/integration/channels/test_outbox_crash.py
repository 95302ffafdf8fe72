"""The crash test: a worker process is killed (SIGKILL) between claim and send, or between
send and record; a new worker takes over after the lease; every message is sent exactly once
(counted at a stand-in for Twilio's API that remembers what it got)."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from channels.sms import TwilioSmsSender
from hotline.adapters.twilio import open_twilio
from hotline.bootstrap import bootstrap
from hotline.clock import FixedClock
from hotline.services.outbox import Outgoing, enqueue, run_once
from hotline.storage.outbox import OutboxMessage
from tests.integration.channels.fake_twilio import FakeTwilio
from tests.integration.channels.support import CITIZEN, channel_env, channel_settings

ROOT = Path(__file__).resolve().parents[3]
ServerFactory = Callable[..., Awaitable[TestServer]]


@pytest.mark.parametrize("mode", ["after_claim", "after_send"])
async def test_killed_worker_then_restart_sends_each_message_once(
    mode: str,
    aiohttp_server: ServerFactory,
    database_url: str,
    tmp_path: Path,
    clock: FixedClock,
) -> None:
    fake = FakeTwilio(now=clock.now)
    server = await aiohttp_server(fake.app())
    base = str(server.make_url("")).rstrip("/")
    settings = channel_settings(
        database_url, tmp_path, channel_env(database_url, TWILIO_API_BASE_URL=base)
    )
    ctx = bootstrap(settings, clock=clock)
    bodies = [f"【安阳12345】第{i}条通知" for i in range(5)]
    try:
        async with ctx.db.sessions() as session, session.begin():
            await enqueue(
                session,
                [Outgoing("sms", f"k{i}", CITIZEN, body, "test") for i, body in enumerate(bodies)],
                clock.now(),
            )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.integration.channels.crash_worker",
            database_url,
            str(tmp_path),
            base,
            mode,
            clock.now().isoformat(),
            cwd=ROOT,
        )
        assert await asyncio.wait_for(proc.wait(), timeout=60) == -signal.SIGKILL
        before = len(fake.messages)
        assert (before == 0) if mode == "after_claim" else (before >= 1)
        async with ctx.db.sessions() as session:
            states = set((await session.scalars(select(OutboxMessage.status))).all())
        assert "sending" in states  # the dead worker's claims are still there
        async with open_twilio(settings) as rest:
            assert rest is not None
            sender = TwilioSmsSender(rest, None)
            early = await run_once(ctx, {"sms": sender}, worker="heir")
            assert early.claimed == 0  # the lease still holds
            clock.advance(timedelta(seconds=settings.config.channels.outbox.lease_seconds + 1))
            report = await run_once(ctx, {"sms": sender}, worker="heir")
        assert sorted(m["body"] for m in fake.messages) == sorted(bodies)
        if mode == "after_send":
            assert report.reconciled == before
        async with ctx.db.sessions() as session:
            rows = (await session.scalars(select(OutboxMessage))).all()
        assert {r.status for r in rows} == {"sent"}
        assert {r.provider_ref for r in rows} == {m["sid"] for m in fake.messages}
    finally:
        await ctx.db.dispose()
