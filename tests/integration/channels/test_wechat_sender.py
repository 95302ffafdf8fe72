"""Customer-service messages through wechatpy's client, against a stand-in for WeChat's API."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from channels.config import WeChatConfig
from channels.wechat import WeChatCustomerSender
from hotline.services.context import Context
from hotline.services.outbox import Outgoing, enqueue, run_once
from hotline.storage.outbox import OutboxMessage

ServerFactory = Callable[..., Awaitable[TestServer]]


class FakeWeChat:
    def __init__(self, errcode: int = 0) -> None:
        self.errcode = errcode
        self.sent: list[dict[str, Any]] = []
        self.tokens = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self.token)
        app.router.add_post("/cgi-bin/message/custom/send", self.send)
        return app

    async def token(self, request: web.Request) -> web.Response:
        self.tokens += 1
        assert request.query["appid"] == "wx-app"
        return web.json_response({"access_token": f"tok{self.tokens}", "expires_in": 7200})

    async def send(self, request: web.Request) -> web.Response:
        assert request.query["access_token"].startswith("tok")
        if self.errcode:
            return web.json_response(
                {"errcode": self.errcode, "errmsg": "response out of time limit"}
            )
        self.sent.append(json.loads(await request.read()))
        return web.json_response({"errcode": 0, "errmsg": "ok"})


async def run(ctx: Context, fake: FakeWeChat, aiohttp_server: ServerFactory) -> OutboxMessage:
    server = await aiohttp_server(fake.app())
    config = WeChatConfig(api_base_url=str(server.make_url("/cgi-bin/")))  # type: ignore[arg-type]
    async with ctx.db.sessions() as session, session.begin():
        await enqueue(
            session,
            [Outgoing("wechat", "w1", "oUser", "您的工单已答复：井盖已补装", "replied")],
            ctx.clock.now(),
        )
    await run_once(ctx, {"wechat": WeChatCustomerSender("wx-app", "secret", config)})
    async with ctx.db.sessions() as session:
        return (await session.scalars(select(OutboxMessage))).one()


async def test_customer_service_message_is_sent(
    ctx: Context, aiohttp_server: ServerFactory
) -> None:
    fake = FakeWeChat()
    row = await run(ctx, fake, aiohttp_server)
    assert row.status == "sent"
    assert fake.sent == [
        {"touser": "oUser", "msgtype": "text", "text": {"content": "您的工单已答复：井盖已补装"}}
    ]


async def test_outside_the_48_hour_window_is_a_dead_letter(
    ctx: Context, aiohttp_server: ServerFactory
) -> None:
    row = await run(ctx, FakeWeChat(errcode=45015), aiohttp_server)
    assert row.status == "dead" and "45015" in (row.last_error or "")
