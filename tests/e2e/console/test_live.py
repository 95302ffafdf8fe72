"""Live updates: events published in the transaction reach the WebSockets of every app instance
once it commits (PostgreSQL NOTIFY, or within the process on SQLite), and nothing on rollback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from dispatch.service import dispatch_to
from hotline.clock import FixedClock
from hotline.domain.lifecycle import SYSTEM
from hotline.services import live
from hotline.services.context import Context
from hotline.web.app import create_app
from hotline.web.console.live import LIVE
from hotline.web.keys import CONTEXT
from ivr import calls
from tests.e2e.console.support import Client, console_settings, sign_in

ClientFactory = Callable[..., Awaitable[TestClient[Any, web.Application]]]
ADMIN = {"Authorization": "Bearer test-admin-token"}


async def next_events(
    ws: aiohttp.ClientWebSocketResponse, want: Callable[[dict[str, Any]], bool], within: float = 5
) -> dict[str, Any]:
    """The first event that ``want`` accepts (others are skipped)."""

    async def read() -> dict[str, Any]:
        while True:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            for event in json.loads(msg.data)["events"]:
                if want(event):
                    return dict(event)

    return await asyncio.wait_for(read(), within)


async def no_event(
    ws: aiohttp.ClientWebSocketResponse, want: Callable[[dict[str, Any]], bool], wait: float = 0.5
) -> None:
    try:
        found = await next_events(ws, want, within=wait)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected event {found}")


async def create_ticket(client: Client, content: str = "北关区洹北街道路灯一周不亮") -> str:
    response = await client.post(
        "/api/v1/tickets", json={"type": "投诉", "content": content}, headers=ADMIN
    )
    assert response.status == 201, await response.text()
    return str((await response.json())["number"])


async def test_the_websocket_needs_a_session_from_this_site(client: Client) -> None:
    refused = await client.get("/console/ws")
    assert refused.status == 401
    await sign_in(client, "agent1")
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await client.ws_connect("/console/ws", headers={"Origin": "https://evil.example"})
    assert info.value.status == 403


async def test_a_new_ticket_and_its_changes_reach_open_pages(client: Client) -> None:
    await sign_in(client, "agent1")
    async with client.ws_connect("/console/ws") as ws:
        hello = await next_events(ws, lambda e: e["kind"] == "hello")
        assert hello["user"]
        number = await create_ticket(client)
        event = await next_events(ws, lambda e: e["kind"] == "ticket")
        assert event["number"] == number
        assert event["action"] == "received" and event["channel"] == "api"
        assert "content" not in event  # ids and codes only
        await dispatch_to(client.app[CONTEXT], number, "CGJ", SYSTEM)
        event = await next_events(ws, lambda e: e["kind"] == "ticket")
        assert (event["action"], event["status"], event["version"]) == (
            "dispatched",
            "dispatched",
            2,
        )
        assert event["departments"] == ["CGJ"]


async def test_a_department_hears_only_of_its_own_tickets(client: Client, other: Client) -> None:
    await sign_in(client, "gsgs")
    await sign_in(other, "cgj")
    async with client.ws_connect("/console/ws") as water, other.ws_connect("/console/ws") as city:
        mine = await create_ticket(client, "文峰区东关街道停水三天了")
        await dispatch_to(client.app[CONTEXT], mine, "GSGS", SYSTEM)
        event = await next_events(water, lambda e: e["kind"] == "ticket")
        assert (event["number"], event["action"]) == (mine, "dispatched")
        await no_event(city, lambda e: e["kind"] in ("ticket", "call", "agent"))


async def test_two_app_instances_show_the_same_thing(
    aiohttp_client: ClientFactory,
    client: Client,
    database_url: str,
    tmp_path: Path,
    clock: FixedClock,
) -> None:
    second = await aiohttp_client(
        create_app(console_settings(database_url, tmp_path), clock=clock, run_migrations=False)
    )
    await sign_in(client, "supervisor1")
    async with client.ws_connect("/console/ws") as ws:
        await next_events(ws, lambda e: e["kind"] == "hello")
        number = await create_ticket(second)  # written through the other instance
        event = await next_events(ws, lambda e: e["kind"] == "ticket")
        assert event["number"] == number
    assert second.app[LIVE].delivered >= 1


async def test_events_are_published_on_commit_only(client: Client) -> None:
    ctx: Context = client.app[CONTEXT]
    hub = client.app[LIVE]
    with hub.subscribe() as sub:
        async with ctx.db.sessions() as session:
            async with session.begin():
                await live.publish(ctx, session, {"kind": "ticket", "number": "kept"})
            with pytest.raises(RuntimeError):
                async with session.begin():
                    await live.publish(ctx, session, {"kind": "ticket", "number": "dropped"})
                    raise RuntimeError("rolled back")
            async with session.begin():
                await live.publish(ctx, session, {"kind": "ticket", "number": "after"})
        seen = []
        while len(seen) < 2:
            seen += [e["number"] for e in (await asyncio.wait_for(sub.get(), 5)).events]
    assert seen == ["kept", "after"]


async def test_call_events_tell_the_agent_and_the_wallboard(client: Client) -> None:
    await sign_in(client, "supervisor1")
    async with client.ws_connect("/console/ws") as ws:
        await calls.call_arrived(
            client.app[CONTEXT], "CA-live-1", "+8613812345678", "+863722012345"
        )
        event = await next_events(ws, lambda e: e["kind"] == "call")
        assert (event["event"], event["call_sid"], event["stage"]) == (
            "arrived",
            "CA-live-1",
            "menu",
        )
        assert "from" not in event
        await calls.enqueue(client.app[CONTEXT], "CA-live-1")
        event = await next_events(ws, lambda e: e["kind"] == "call")
        assert (event["event"], event["stage"]) == ("queued", "queued")
