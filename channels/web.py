"""HTTP entry points of the messaging channels and the outbox worker, set up by :func:`setup`.

Senders are registered per message kind by factories (async context managers opened with the
app): SMS through Twilio, WeChat customer-service messages, platform callbacks. Another kind
(e.g. signed webhooks to departments) is added with :func:`register_senders`. Kinds without a
sender (Twilio not configured, say) stay queued until one is there.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

import aiohttp
import structlog
from aiohttp import web

from channels import mailbox_web, outbox_api, platforms, sms, wechat
from hotline.services.outbox import Sender, run_forever
from hotline.web.keys import CONTEXT, TWILIO

log = structlog.get_logger(__name__)

SenderFactory = Callable[[web.Application], AbstractAsyncContextManager[Mapping[str, Sender]]]

#: factories of the outbox's senders, entered when the app starts
SENDER_FACTORIES: web.AppKey[list[SenderFactory]] = web.AppKey("outbox_sender_factories")
#: the senders by message kind, once the app has started
SENDERS: web.AppKey[dict[str, Sender]] = web.AppKey("outbox_senders")


def register_senders(app: web.Application, factory: SenderFactory) -> None:
    """Add a sender factory, whichever part of the app is set up first."""
    if SENDER_FACTORIES not in app:
        app[SENDER_FACTORIES] = []
    app[SENDER_FACTORIES].append(factory)


@asynccontextmanager
async def sms_senders(app: web.Application) -> AsyncIterator[Mapping[str, Sender]]:
    rest = app[TWILIO]
    ctx = app[CONTEXT]
    if rest is None or not rest.phone_number:
        log.warning("SMS notifications wait in the outbox: Twilio or twilio.phone_number not set")
        yield {}
        return
    yield {
        "sms": sms.TwilioSmsSender(rest, sms.status_callback_url(ctx.settings.secrets.public_url))
    }


@asynccontextmanager
async def wechat_senders(app: web.Application) -> AsyncIterator[Mapping[str, Sender]]:
    ctx = app[CONTEXT]
    s = ctx.settings.secrets
    if not (s.wechat_app_id and s.wechat_app_secret):
        log.warning("WeChat messages wait in the outbox: WECHAT_APP_ID/WECHAT_APP_SECRET not set")
        yield {}
        return
    yield {
        "wechat": wechat.WeChatCustomerSender(
            s.wechat_app_id, s.wechat_app_secret, ctx.config.channels.wechat
        )
    }


@asynccontextmanager
async def platform_senders(app: web.Application) -> AsyncIterator[Mapping[str, Sender]]:
    async with aiohttp.ClientSession() as http:
        yield {
            "platform": platforms.PlatformCallbackSender(
                http,
                app[CONTEXT].config.channels.platforms,
                app[CONTEXT].settings.secrets.platform_secrets,
            )
        }


async def outbox_worker(app: web.Application) -> AsyncIterator[None]:
    """Open the senders; run the worker in the background unless config turns it off."""
    ctx = app[CONTEXT]
    async with AsyncExitStack() as stack:
        senders: dict[str, Sender] = {}
        for factory in app[SENDER_FACTORIES]:
            senders.update(await stack.enter_async_context(factory(app)))
        app[SENDERS] = senders
        stop = asyncio.Event()
        task: asyncio.Task[None] | None = None
        if ctx.config.channels.outbox.run_worker and senders:
            task = asyncio.create_task(run_forever(ctx, senders, stop))
        yield
        stop.set()
        if task is not None:
            try:
                await asyncio.wait_for(task, timeout=15)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def setup(app: web.Application) -> None:
    for module in (sms, wechat, mailbox_web, platforms, outbox_api):
        app.router.add_routes(module.routes)
    for factory in (sms_senders, wechat_senders, platform_senders):
        register_senders(app, factory)
    app.cleanup_ctx.append(outbox_worker)
