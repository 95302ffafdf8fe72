"""The ACD in motion: offers queued callers to idle agents, now and every few seconds.

Webhooks only *kick* it (a background task), so they answer Twilio at once; a periodic tick
ends wrap-up times and catches anything a kick missed. Offers are claimed in the database
(``ivr.calls.claim_offers``), so two app instances never double-book a caller or an agent.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from hotline.web.keys import CONTEXT, TWILIO
from ivr import calls
from ivr.gateway import TwilioVoiceGateway, VoiceGateway

log = structlog.get_logger(__name__)

TICK_SECONDS = 3.0


class AcdRunner:
    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()
        self._pending = False
        #: a test or a deployment may swap in another gateway
        self.gateway: VoiceGateway | None = None

    def current_gateway(self) -> VoiceGateway | None:
        return self._gateway()

    def _gateway(self) -> VoiceGateway | None:
        if self.gateway is not None:
            return self.gateway
        rest = self._app.get(TWILIO)
        return TwilioVoiceGateway(rest) if rest is not None else None

    def kick(self) -> None:
        if self._pending:
            return  # one run is queued already and will see this caller too
        self._pending = True
        task = asyncio.create_task(self.run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self) -> None:
        async with self._lock:
            self._pending = False
            try:
                await self._offer()
            except Exception:
                log.exception("acd run failed")

    async def _offer(self) -> None:
        ctx = self._app[CONTEXT]
        gateway = self._gateway()
        base = ctx.settings.secrets.public_url
        if gateway is None or not base:
            return
        for offer in await calls.claim_offers(ctx):
            url = f"{base.rstrip('/')}/twilio/voice/connect?agent={offer.agent_id}"
            try:
                await gateway.redirect(offer.call_sid, url)
            except Exception as exc:  # noqa: BLE001 - whatever went wrong, free both again
                log.warning("acd redirect failed", call=offer.call_sid, error=str(exc))
                await calls.offer_failed(ctx, offer)

    async def tick(self) -> None:
        await calls.end_wrap_up(self._app[CONTEXT])
        await self.run()

    async def drain(self) -> None:
        """Wait for the background runs (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


ACD = web.AppKey("acd", AcdRunner)


def kick_acd(app: web.Application) -> None:
    app[ACD].kick()


def setup_runner(app: web.Application) -> None:
    app[ACD] = AcdRunner(app)

    async def periodic(app: web.Application) -> AsyncIterator[None]:
        runner = app[ACD]

        async def loop() -> None:
            while True:
                await asyncio.sleep(TICK_SECONDS)
                try:
                    await runner.tick()
                except Exception:
                    log.exception("acd tick failed")

        task = asyncio.create_task(loop())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await runner.drain()

    app.cleanup_ctx.append(periodic)
