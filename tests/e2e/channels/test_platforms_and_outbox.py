"""Superior platforms through HTTP (keys, idempotency, results pushed back to a callback URL),
and the outbox API that agents use to see and retry dead letters."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from channels.web import SENDERS
from dispatch.service import dispatch_to
from hotline.clock import FixedClock
from hotline.config import ConfigError
from hotline.domain.lifecycle import SYSTEM, Close, Reply, Sign, StartCallback
from hotline.services.keys import create_key
from hotline.services.outbox import run_once
from hotline.services.tickets import perform
from hotline.web.app import create_app
from hotline.web.keys import CONTEXT
from tests.e2e.channels.conftest import Client, ClientFactory
from tests.factories import dept
from tests.integration.channels.support import channel_env, channel_settings

ADMIN = {"Authorization": "Bearer test-admin-token"}
CALLBACK_SECRET = "gov-service-callback-secret"
ServerFactory = Callable[..., Awaitable[TestServer]]


class FakePlatform:
    """The platform's side of the callback: records what it got; fails as told."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.fail_next = 0

    async def handle(self, request: web.Request) -> web.Response:
        if self.fail_next:
            self.fail_next -= 1
            return web.Response(status=503, text="维护中")
        # the platform checks the signature over the timestamp and the exact body
        body = await request.text()
        stamp = request.headers["X-Hotline-Timestamp"]
        expected = hmac.new(
            CALLBACK_SECRET.encode(), f"{stamp}.{body}".encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(request.headers["X-Hotline-Signature"], f"sha256={expected}"):
            return web.Response(status=401, text="bad signature")
        self.received.append((request.headers["Idempotency-Key"], json.loads(body)))
        return web.json_response({"ok": True})


async def platform_client(
    aiohttp_client: ClientFactory,
    aiohttp_server: ServerFactory,
    database_url: str,
    tmp_path: Path,
    clock: FixedClock,
) -> tuple[Client, FakePlatform, str]:
    fake = FakePlatform()
    app = web.Application()
    app.router.add_post("/callback", fake.handle)
    server = await aiohttp_server(app)
    settings = channel_settings(
        database_url,
        tmp_path,
        env={**channel_env(database_url), "GOV_SERVICE_SECRET": CALLBACK_SECRET},
        channels={
            "platforms": {
                "gov-service": {
                    "label": "国家政务服务平台",
                    "callback_url": str(server.make_url("/callback")),
                    "secret_env": "GOV_SERVICE_SECRET",
                },
                "leaders-board": {"label": "领导留言板"},
            },
            "outbox": {"max_attempts": 2},
        },
    )
    client = await aiohttp_client(create_app(settings, clock=clock))
    key = await create_key(client.app[CONTEXT], platform="gov-service")
    return client, fake, key


async def post_ticket(client: Client, key: str, body: Any) -> Any:
    data = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return await client.post(
        "/api/v1/platform/tickets",
        data=data,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )


TICKET = {
    "external_id": "GOV-2026-0001",
    "title": "企业开办审批超时",
    "content": "在市政务服务中心提交的企业开办申请已超过承诺时限仍未办结。",
    "type": "投诉",
    "received_at": "2026-11-26T09:30:00+08:00",
}


async def test_platform_ticket_is_idempotent_and_results_go_back(
    aiohttp_client: ClientFactory,
    aiohttp_server: ServerFactory,
    database_url: str,
    tmp_path: Path,
    clock: FixedClock,
) -> None:
    client, fake, key = await platform_client(
        aiohttp_client, aiohttp_server, database_url, tmp_path, clock
    )
    first = await post_ticket(client, key, TICKET)
    assert first.status == 201
    number = (await first.json())["number"]
    again = await post_ticket(client, key, TICKET)
    assert (again.status, await again.json()) == (200, {"number": number})
    changed = await post_ticket(client, key, {**TICKET, "content": "另一件完全不同的事情"})
    assert changed.status == 409
    ctx = client.app[CONTEXT]
    await dispatch_to(ctx, number, "CGJ", SYSTEM)
    await perform(ctx, number, Sign("CGJ"), dept("CGJ"))
    await perform(ctx, number, Reply("CGJ", "已督促审批窗口办结。", True), dept("CGJ"))
    fake.fail_next = 1  # the platform is down for the first try
    senders = client.app[SENDERS]
    report = await run_once(ctx, senders)
    assert report.retrying == 1 and fake.received == []
    clock.advance(timedelta(minutes=2))  # the retry waits for its backoff
    await run_once(ctx, senders)
    await perform(ctx, number, StartCallback(), SYSTEM)
    await perform(ctx, number, Close("回访满意"), SYSTEM)
    await run_once(ctx, senders)
    assert [doc["event"] for _, doc in fake.received] == ["replied", "closed"]
    assert fake.received[0][1]["external_id"] == "GOV-2026-0001"
    assert fake.received[0][1]["result"] == "已督促审批窗口办结。"
    assert fake.received[0][0].startswith("platform:gov-service:GOV-2026-0001:replied")


async def test_platform_credentials_and_bad_input(
    aiohttp_client: ClientFactory,
    aiohttp_server: ServerFactory,
    database_url: str,
    tmp_path: Path,
    clock: FixedClock,
) -> None:
    client, _, key = await platform_client(
        aiohttp_client, aiohttp_server, database_url, tmp_path, clock
    )
    assert (await post_ticket(client, "hk_nope_nope", TICKET)).status == 401
    assert (await post_ticket(client, "test-admin-token", TICKET)).status == 403
    for body, status, field in [
        ("{", 400, None),
        ({**TICKET, "external_id": ""}, 422, "external_id"),
        ({k: v for k, v in TICKET.items() if k != "title"}, 422, "title"),
        ({**TICKET, "received_at": "yesterday"}, 422, "received_at"),
        ({**TICKET, "received_at": "2026-11-26T09:30:00"}, 422, "received_at"),
        ({**TICKET, "received_at": "2030-01-01T00:00:00+08:00"}, 422, "received_at"),
        ({**TICKET, "type": "抱怨"}, 422, "type"),
    ]:
        response = await post_ticket(client, key, body)
        assert response.status == status, body
        if field:
            assert field in (await response.json())["error"]["message"]


async def test_dead_letters_are_visible_and_retried(
    aiohttp_client: ClientFactory,
    aiohttp_server: ServerFactory,
    database_url: str,
    tmp_path: Path,
    clock: FixedClock,
) -> None:
    client, _, _ = await platform_client(
        aiohttp_client, aiohttp_server, database_url, tmp_path, clock
    )
    board = await create_key(client.app[CONTEXT], platform="leaders-board")  # no callback URL
    number = (await (await post_ticket(client, board, TICKET)).json())["number"]
    ctx = client.app[CONTEXT]
    await dispatch_to(ctx, number, "CGJ", SYSTEM)
    await perform(ctx, number, Sign("CGJ"), dept("CGJ"))
    await perform(ctx, number, Reply("CGJ", "已答复", True), dept("CGJ"))
    await run_once(ctx, client.app[SENDERS])
    listed = await (await client.get("/api/v1/outbox?status=dead", headers=ADMIN)).json()
    (dead,) = listed["items"]
    assert dead["ticket"] == number and "未配置回调地址" in dead["last_error"]
    assert dead["created_at"].endswith("+08:00")
    one = await client.get(f"/api/v1/outbox/{dead['id']}", headers=ADMIN)
    assert (await one.json())["status"] == "dead"
    retried = await client.post(f"/api/v1/outbox/{dead['id']}/retry", headers=ADMIN)
    assert (retried.status, (await retried.json())["status"]) == (200, "pending")
    again = await client.post(f"/api/v1/outbox/{dead['id']}/retry", headers=ADMIN)
    assert again.status == 409
    assert (await client.get("/api/v1/outbox", headers={})).status == 401
    assert (
        await client.get(
            f"/api/v1/outbox/{dead['id']}", headers={"Authorization": f"Bearer {board}"}
        )
    ).status == 403
    assert (await client.get("/api/v1/outbox/999", headers=ADMIN)).status == 404
    assert (await client.get("/api/v1/outbox/abc", headers=ADMIN)).status == 422
    assert (await client.get("/api/v1/outbox?status=lost", headers=ADMIN)).status == 422


def test_a_platform_secret_named_but_not_set_is_a_config_error(
    database_url: str, tmp_path: Path
) -> None:
    platforms = {"gov-service": {"callback_url": "https://example.org/cb", "secret_env": "NOPE"}}
    with pytest.raises(ConfigError, match=r"channels\.platforms\.gov-service\.secret_env"):
        channel_settings(database_url, tmp_path, channels={"platforms": platforms})
