"""One outbox pass that is killed (SIGKILL, no clean-up) at a chosen point — for the crash test.

    python -m tests.integration.channels.crash_worker DB_URL TMP_DIR TWILIO_BASE MODE NOW

MODE ``after_claim``: killed once the batch is claimed, before anything is sent.
MODE ``after_send``: killed as soon as Twilio has accepted the first message, before the
worker records it (the message is then in doubt).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from channels.sms import TwilioSmsSender
from hotline.adapters.twilio import open_twilio
from hotline.bootstrap import bootstrap
from hotline.clock import FixedClock
from hotline.services.outbox import Message, run_once
from tests.integration.channels.support import channel_env, channel_settings


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class KillAfterSend(TwilioSmsSender):
    async def send(self, message: Message) -> str | None:
        await super().send(message)
        _die()
        return None  # pragma: no cover - never reached


async def main(database_url: str, tmp: str, twilio_base: str, mode: str, now: str) -> None:
    env = channel_env(database_url, TWILIO_API_BASE_URL=twilio_base)
    settings = channel_settings(database_url, Path(tmp), env)
    ctx = bootstrap(settings, clock=FixedClock(datetime.fromisoformat(now)))

    async def claimed(messages: Sequence[Message]) -> None:
        if mode == "after_claim":
            _die()

    async with open_twilio(settings) as rest:
        assert rest is not None
        cls = KillAfterSend if mode == "after_send" else TwilioSmsSender
        await run_once(ctx, {"sms": cls(rest, None)}, worker="doomed", on_claimed=claimed)
    raise SystemExit("the worker was meant to be killed")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
