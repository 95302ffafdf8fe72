"""A whole call, with Twilio's REST API served by Prism from Twilio's own OpenAPI description:
greeting → no input → queue → agent answers → agent makes a ticket → transfer to 120."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from twilio.http import AsyncHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.rest import Client

from hotline.adapters.twilio import TwilioRest
from hotline.clock import FixedClock
from hotline.services.queries import get_ticket
from hotline.web.app import create_app
from hotline.web.keys import CONTEXT
from ivr import calls
from ivr.gateway import TwilioVoiceGateway
from ivr.runner import ACD
from tests.e2e.ivr.conftest import EMERGENCY, voice_settings
from tests.twilio_player import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, TwilioPlayer, call_form

AUTH = {"Authorization": "Bearer test-admin-token"}
ClientFactory = Callable[..., Awaitable[TestClient[Any, web.Application]]]


@pytest.fixture
async def prism_app(
    aiohttp_client: ClientFactory,
    database_url: str,
    tmp_path: Path,
    clock: FixedClock,
    prism_url: str,
) -> AsyncIterator[TestClient[Any, web.Application]]:
    settings = voice_settings(database_url, tmp_path, api_base=prism_url)
    yield await aiohttp_client(create_app(settings, clock=clock))


async def _answered_call(
    client: TestClient[Any, web.Application], player: TwilioPlayer, sid: str
) -> None:
    """Greeting → silence → queue → the ACD rings agent1 (through Prism) → agent answers."""
    ok = await client.put(
        "/api/v1/agents/agent1/state",
        json={"state": "available", "client_identity": "agent-1"},
        headers=AUTH,
    )
    assert ok.status == 200
    greeting = await player.post("/twilio/voice", call_form(sid))
    queued = await player.post(greeting.first("Redirect").text or "", call_form(sid))
    assert queued.first("Enqueue").text == "hotline"
    await client.app[ACD].drain()
    ctx = client.app[CONTEXT]
    call, _ = await calls.get_call(ctx, sid)
    assert call.stage == "connecting", "the REST redirect through Prism did not succeed"
    connect = await player.post(f"/twilio/voice/connect?agent={call.agent_id}", call_form(sid))
    leg = connect.first("Dial/Client").get("statusCallback") or ""
    await player.post(leg, call_form("CA" + "9" * 32, CallStatus="in-progress", ParentCallSid=sid))


async def test_a_whole_call_ends_in_a_transfer_to_120(
    prism_app: TestClient[Any, web.Application],
) -> None:
    player = TwilioPlayer(prism_app)
    sid = "CA" + "1" * 32
    await _answered_call(prism_app, player, sid)
    ctx = prism_app.app[CONTEXT]
    call, _ = await calls.get_call(ctx, sid)
    assert call.stage == "with_agent" and call.agent_leg_sid == "CA" + "9" * 32

    made = await prism_app.post(
        "/api/v1/tickets",
        json={
            "type": "求助",
            "content": "来电人称家中老人突发胸痛，已经站不起来",
            "call_sid": sid,
            "phone": "+8613812345678",
        },
        headers=AUTH,
    )
    assert made.status == 201, await made.text()
    number = (await made.json())["number"]
    call, _ = await calls.get_call(ctx, sid)
    assert call.ticket_id is not None

    transfer = await prism_app.post(
        f"/api/v1/calls/{sid}/transfer", json={"target": "120"}, headers=AUTH
    )
    assert transfer.status == 202, await transfer.text()
    attempt = (await transfer.json())["attempt"]
    assert (attempt["target"], attempt["number"], attempt["result"]) == (
        "120",
        EMERGENCY["120"],
        "pending",
    )
    call, _ = await calls.get_call(ctx, sid)
    assert call.stage == "conference" and call.conference_name == f"xfer-{sid}"

    await player.post(
        "/twilio/voice/conference",
        call_form(
            sid,
            FriendlyName=f"xfer-{sid}",
            ConferenceSid="CF" + "2" * 32,
            StatusCallbackEvent="participant-join",
        ),
    )
    await player.post(
        f"/twilio/voice/transfer-status?attempt={attempt['id']}",
        call_form("CA" + "3" * 32, CallStatus="in-progress"),
    )
    record = await prism_app.get(f"/api/v1/calls/{sid}", headers=AUTH)
    body = await record.json()
    assert [(t["target"], t["via"], t["result"]) for t in body["transfers"]] == [
        ("120", "agent", "answered")
    ]
    assert body["ticket"] == number
    view = await get_ticket(ctx, number)
    assert view.ticket.status == "transferred"
    assert view.events[-1].action == "transferred"


async def test_a_refused_transfer_is_announced_in_the_conference(
    prism_app: TestClient[Any, web.Application],
) -> None:
    player = TwilioPlayer(prism_app)
    sid = "CA" + "4" * 32
    await _answered_call(prism_app, player, sid)
    transfer = await prism_app.post(
        f"/api/v1/calls/{sid}/transfer", json={"target": "110"}, headers=AUTH
    )
    attempt = (await transfer.json())["attempt"]
    await player.post(
        "/twilio/voice/conference",
        call_form(
            sid,
            FriendlyName=f"xfer-{sid}",
            ConferenceSid="CF" + "5" * 32,
            StatusCallbackEvent="conference-start",
        ),
    )
    await player.post(
        f"/twilio/voice/transfer-status?attempt={attempt['id']}",
        call_form("CA" + "6" * 32, CallStatus="busy"),
    )
    _, attempts = await calls.get_call(prism_app.app[CONTEXT], sid)
    assert [a.result for a in attempts] == ["busy"]
    announce = await player.post("/twilio/voice/announce", call_form(sid))
    assert "转接未成功" in (announce.first("Say").text or "")


class CannedHttpClient(AsyncHttpClient):
    """Answers every request with one canned Twilio response (an error path Prism cannot
    produce): here 21220, "Call is not in-progress"."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(logging.getLogger("canned-twilio"), True)
        self.status, self.body = status, body
        self.requests: list[tuple[str, str]] = []

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> TwilioResponse:
        self.requests.append((method, url))
        return TwilioResponse(self.status, json.dumps(self.body))


async def test_twilio_refusing_the_transfer_is_recorded_as_failed(
    prism_app: TestClient[Any, web.Application],
) -> None:
    player = TwilioPlayer(prism_app)
    sid = "CA" + "7" * 32
    await _answered_call(prism_app, player, sid)
    canned = CannedHttpClient(
        400,
        {
            "code": 21220,
            "message": "Call is not in-progress. Cannot redirect.",
            "status": 400,
            "more_info": "https://www.twilio.com/docs/errors/21220",
        },
    )
    client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=canned)
    prism_app.app[ACD].gateway = TwilioVoiceGateway(TwilioRest(client, canned, None))  # type: ignore[arg-type]
    transfer = await prism_app.post(
        f"/api/v1/calls/{sid}/transfer", json={"target": "119"}, headers=AUTH
    )
    assert transfer.status == 202
    attempt = (await transfer.json())["attempt"]
    assert attempt["result"] == "failed"
    assert "21220" in (attempt["detail"] or "") or "not in-progress" in (attempt["detail"] or "")
    assert canned.requests and canned.requests[0][0] == "POST"
    call, _ = await calls.get_call(prism_app.app[CONTEXT], sid)
    assert call.stage == "with_agent"  # the caller stays with the agent


async def test_transfer_of_a_call_not_with_an_agent_is_refused(
    prism_app: TestClient[Any, web.Application],
) -> None:
    player = TwilioPlayer(prism_app)
    await player.post("/twilio/voice", call_form("CA-menu"))
    refused = await prism_app.post(
        "/api/v1/calls/CA-menu/transfer", json={"target": "110"}, headers=AUTH
    )
    assert refused.status == 409
    bad = await prism_app.post(
        "/api/v1/calls/CA-menu/transfer", json={"target": "999"}, headers=AUTH
    )
    assert bad.status == 422
    missing = await prism_app.get("/api/v1/calls/CA-nope", headers=AUTH)
    assert missing.status == 404
    assert PUBLIC_URL
