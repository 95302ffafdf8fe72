"""Superior platforms (条例第四十八条第二项): tickets handed down, results pushed back.

``POST /api/v1/platform/tickets`` takes a ticket from a platform that holds a platform key
(``hotline keys add --platform NAME``), idempotent on the platform's ``external_id``: the first
call answers 201, any repeat 200 with the same number, a different text under the same id 409.
When the ticket is replied and when it is finished, :mod:`channels.notify` queues the result for
the platform's ``callback_url`` (``channels.platforms.NAME``), and :class:`PlatformCallbackSender`
POSTs it with the message's idempotency key, retrying until the platform says 2xx.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import datetime, timedelta

import aiohttp
from aiohttp import web
from pydantic import Field

from channels.config import PlatformConfig
from dispatch.webhooks import signature
from hotline.domain.errors import InvalidField
from hotline.domain.intake import IntakeValue
from hotline.domain.vocabulary import ActorKind, Channel, TicketType
from hotline.services import intake
from hotline.services.outbox import InDoubt, Message, SendFailed
from hotline.web.api.bodies import Body, parse_body
from hotline.web.auth import require
from hotline.web.errors import read_json_object
from hotline.web.jsonresp import json_response
from hotline.web.keys import CONTEXT, METRICS

routes = web.RouteTableDef()

#: a received_at this far ahead of our clock is refused (clocks differ a little)
FUTURE_SLACK = timedelta(minutes=10)


class PlatformTicket(Body):
    external_id: str = Field(min_length=1, max_length=128)
    title: str = Field(min_length=1, max_length=200)
    content: str = Field(min_length=1, max_length=20_000)
    type: str | None = None
    address: str | None = Field(default=None, max_length=500)
    phone: str | None = Field(default=None, max_length=64)
    received_at: str | None = None


def _received_at(text: str | None, now: datetime) -> datetime:
    if text is None:
        return now
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidField(
            "received_at", "须为 ISO 8601 时间，例如 2026-11-26T10:00:00+08:00"
        ) from exc
    if when.tzinfo is None:
        raise InvalidField("received_at", "须带时区，例如 +08:00")
    if when > now + FUTURE_SLACK:
        raise InvalidField("received_at", "不能晚于当前时间")
    return when


@routes.post("/api/v1/platform/tickets")
async def take_platform_ticket(request: web.Request) -> web.Response:
    principal = await require(request, (ActorKind.PLATFORM,))
    body = parse_body(PlatformTicket, await read_json_object(request))
    ticket_type: TicketType | None = None
    if body.type is not None:
        try:
            ticket_type = TicketType.parse(body.type)
        except ValueError as exc:
            allowed = "、".join(t.value for t in TicketType)
            raise InvalidField("type", f"必须是 {allowed} 之一") from exc
    ctx = request.app[CONTEXT]
    platform = principal.id
    value = IntakeValue(
        channel=Channel.PLATFORM,
        channel_ref=f"{platform}:{body.external_id}",
        received_at=_received_at(body.received_at, ctx.clock.now()),
        content=body.content,
        title=body.title,
        type=ticket_type,
        address=body.address,
        phone=body.phone,
        payload={
            "platform": platform,
            "external_id": body.external_id,
            "body": body.model_dump(exclude_none=True),
        },
    )
    result = await intake.take_in(ctx, value, principal.actor)
    request.app[METRICS].contacts.labels(
        Channel.PLATFORM.value, "created" if result.created else "repeat"
    ).inc()
    return json_response({"number": result.number}, status=201 if result.created else 200)


class PlatformCallbackSender:
    """POSTs a platform's result document to its configured callback URL (aiohttp).

    The ``Idempotency-Key`` header carries the outbox key, so a platform drops a repeat; a try
    whose outcome is unknown is therefore simply sent again. With a secret configured
    (``secret_env``) the body is signed like the units' webhooks: ``X-Hotline-Signature:
    sha256=<hex>``, HMAC-SHA256 over ``<X-Hotline-Timestamp>.<body>``.
    """

    in_doubt: InDoubt = "resend"

    def __init__(
        self,
        http: aiohttp.ClientSession,
        platforms: dict[str, PlatformConfig],
        secrets: Mapping[str, str] | None = None,
    ) -> None:
        self.http = http
        self.platforms = platforms
        self.secrets = dict(secrets or {})

    async def send(self, message: Message) -> str | None:
        cfg = self.platforms.get(message.recipient)
        if cfg is None or cfg.callback_url is None:
            raise SendFailed(
                f"平台 {message.recipient} 未配置回调地址 (channels.platforms.{message.recipient}"
                ".callback_url)",
                permanent=True,
            )
        body = json.dumps(message.payload.get("document", {}), ensure_ascii=False)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": message.key,
            "X-Hotline-Event": str(message.payload.get("document", {}).get("event", "")),
        }
        secret = self.secrets.get(message.recipient)
        if secret:
            stamp = str(int(time.time()))
            headers["X-Hotline-Timestamp"] = stamp
            headers["X-Hotline-Signature"] = signature(secret, stamp, body)
        try:
            async with self.http.post(
                str(cfg.callback_url),
                data=body.encode(),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=cfg.timeout_seconds),
            ) as response:
                text = await response.text(errors="replace")
                if 200 <= response.status < 300:
                    return response.headers.get("X-Request-Id")
                permanent = 400 <= response.status < 500 and response.status not in (408, 425, 429)
                raise SendFailed(
                    f"平台回调 HTTP {response.status}: {text[:300]}", permanent=permanent
                )
        except aiohttp.ClientConnectorError as exc:
            raise SendFailed(f"无法连接平台回调地址: {exc}") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SendFailed(f"平台回调中断: {exc!r}", in_doubt=True) from exc

    async def lookup(self, message: Message) -> str | None:  # pragma: no cover - "resend"
        return None
