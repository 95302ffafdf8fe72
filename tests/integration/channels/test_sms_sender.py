"""Outbound SMS through the real ``twilio`` client: against Prism (Twilio's own API description),
an error path with a canned response (21211), and the in-doubt lookup."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select
from twilio.http import AsyncHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from channels.sms import TwilioSmsSender, status_callback_url
from hotline.adapters.twilio import TwilioHttpClient, TwilioRest, open_twilio
from hotline.bootstrap import bootstrap
from hotline.clock import FixedClock
from hotline.services.context import Context
from hotline.services.outbox import Outgoing, enqueue, run_once
from hotline.storage.outbox import OutboxMessage
from tests.integration.channels.fake_twilio import FakeTwilio
from tests.integration.channels.support import (
    CITIZEN,
    HOTLINE_NUMBER,
    PUBLIC_URL,
    TWILIO_SID,
    TWILIO_TOKEN,
    channel_env,
    channel_settings,
)

ServerFactory = Callable[..., Awaitable[TestServer]]


async def queue_sms(
    ctx: Context, key: str = "k1", body: str = "【安阳12345】您的工单已答复。"
) -> None:
    async with ctx.db.sessions() as session, session.begin():
        await enqueue(session, [Outgoing("sms", key, CITIZEN, body, "replied")], ctx.clock.now())


async def only_row(ctx: Context) -> OutboxMessage:
    async with ctx.db.sessions() as session:
        return (await session.scalars(select(OutboxMessage))).one()


async def test_sms_through_the_twilio_client_against_prism(
    prism_url: str, database_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    settings = channel_settings(
        database_url, tmp_path, channel_env(database_url, TWILIO_API_BASE_URL=prism_url)
    )
    ctx = bootstrap(settings, clock=clock)
    try:
        await queue_sms(ctx)
        async with open_twilio(settings) as rest:
            assert rest is not None
            sender = TwilioSmsSender(rest, status_callback_url(PUBLIC_URL))
            report = await run_once(ctx, {"sms": sender})
        assert report.sent == 1, (await only_row(ctx)).last_error
        row = await only_row(ctx)
        assert row.status == "sent" and row.provider_ref and row.provider_ref.startswith("SM")
    finally:
        await ctx.db.dispose()


class CannedTwilio(AsyncHttpClient):  # type: ignore[misc]
    """Twilio's HTTP client interface with a fixed answer (the error path Prism cannot play)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(logging.getLogger(__name__), True, None)
        self.status, self.body = status, body
        self.requests: list[dict[str, Any]] = []

    async def request(self, method: str, url: str, **kwargs: Any) -> Response:
        self.requests.append({"method": method, "url": url, **kwargs})
        return Response(self.status, json.dumps(self.body))


def canned_rest(http: AsyncHttpClient) -> TwilioRest:
    return TwilioRest(Client(TWILIO_SID, TWILIO_TOKEN, http_client=http), http, HOTLINE_NUMBER)


async def test_an_invalid_number_is_a_dead_letter_at_once(ctx: Context) -> None:
    await queue_sms(ctx)
    http = CannedTwilio(
        400,
        {
            "code": 21211,
            "message": "The 'To' number +86138 is not a valid phone number.",
            "more_info": "https://www.twilio.com/docs/errors/21211",
            "status": 400,
        },
    )
    report = await run_once(ctx, {"sms": TwilioSmsSender(canned_rest(http), None)})
    assert report.dead == 1
    row = await only_row(ctx)
    assert row.status == "dead" and "21211" in (row.last_error or "")
    assert http.requests[0]["data"]["To"] == CITIZEN
    assert http.requests[0]["data"]["From"] == HOTLINE_NUMBER


async def test_twilio_outage_is_retried(ctx: Context) -> None:
    await queue_sms(ctx)
    http = CannedTwilio(503, {"code": 20503, "message": "Service unavailable", "status": 503})
    report = await run_once(ctx, {"sms": TwilioSmsSender(canned_rest(http), None)})
    assert report.retrying == 1
    assert (await only_row(ctx)).status == "pending"


async def test_status_callback_carries_the_message_id(
    ctx: Context, aiohttp_server: ServerFactory
) -> None:
    fake = FakeTwilio()
    server = await aiohttp_server(fake.app())
    await queue_sms(ctx)
    http = TwilioHttpClient()
    rest = canned_rest(http)
    rest.client.api.base_url = str(server.make_url("")).rstrip("/")
    try:
        await run_once(ctx, {"sms": TwilioSmsSender(rest, status_callback_url(PUBLIC_URL))})
    finally:
        await http.close()
    row = await only_row(ctx)
    assert len(fake.messages) == 1, row.last_error
    sent = fake.messages[0]
    assert sent["status_callback"] == f"{PUBLIC_URL}/twilio/sms/status?outbox={row.id}"
    assert row.provider_ref == sent["sid"]


def test_a_sender_needs_the_hotline_number() -> None:
    http = CannedTwilio(500, {})
    rest = TwilioRest(Client(TWILIO_SID, TWILIO_TOKEN, http_client=http), http, None)
    with pytest.raises(ValueError, match="phone_number"):
        TwilioSmsSender(rest, None)
