"""Signed webhooks to departments (deadline notices; later: new tickets), via the outbox.

The body is JSON; ``X-Hotline-Signature: sha256=<hex>`` is HMAC-SHA256 over
``<timestamp>.<body>`` with the department's secret, and ``X-Hotline-Timestamp`` carries the
timestamp, so a unit can check origin and freshness. ``Idempotency-Key`` carries the outbox
key: a unit drops a repeat, so a try whose outcome is unknown is simply sent again.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import web

from hotline.services.context import Context
from hotline.services.outbox import InDoubt, Message, Sender, SendFailed
from hotline.storage.reference import Department
from hotline.web.keys import CONTEXT


def signature(secret: str, timestamp: str, body: str) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


class WebhookSender:
    in_doubt: InDoubt = "resend"

    def __init__(self, ctx: Context, http: aiohttp.ClientSession, timeout: float = 10) -> None:
        self.ctx = ctx
        self.http = http
        self.timeout = timeout

    async def _secret(self, code: str) -> str | None:
        async with self.ctx.db.sessions() as session:
            department = await session.get(Department, code)
        return department.webhook_secret if department is not None else None

    async def send(self, message: Message) -> str | None:
        code = str(message.payload.get("department", ""))
        secret = await self._secret(code)
        if not secret:
            raise SendFailed(f"单位 {code} 未配置 webhook 密钥", permanent=True)
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": message.key,
            "X-Hotline-Event": message.purpose,
            "X-Hotline-Timestamp": stamp,
            "X-Hotline-Signature": signature(secret, stamp, message.body),
        }
        try:
            async with self.http.post(
                message.recipient,
                data=message.body.encode(),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as response:
                text = await response.text(errors="replace")
                if 200 <= response.status < 300:
                    return response.headers.get("X-Request-Id")
                permanent = 400 <= response.status < 500 and response.status not in (408, 429)
                raise SendFailed(
                    f"单位 webhook HTTP {response.status}: {text[:300]}", permanent=permanent
                )
        except aiohttp.ClientConnectorError as exc:
            raise SendFailed(f"无法连接单位 webhook: {exc}") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SendFailed(f"单位 webhook 中断: {exc!r}", in_doubt=True) from exc

    async def lookup(self, message: Message) -> str | None:  # pragma: no cover - "resend"
        return None


@asynccontextmanager
async def webhook_senders(app: web.Application) -> AsyncIterator[Mapping[str, Sender]]:
    async with aiohttp.ClientSession() as http:
        yield {"webhook": WebhookSender(app[CONTEXT], http)}
