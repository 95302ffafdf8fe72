"""A small stand-in for Twilio's Messages API that remembers what it was sent, so a test can
count deliveries (Prism proves the request shape; it keeps nothing)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from aiohttp import web

_sids = itertools.count(1)


class FakeTwilio:
    def __init__(self, now: Callable[[], datetime] | None = None) -> None:
        self.messages: list[dict[str, Any]] = []
        self.now = now or (lambda: datetime.now(UTC))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self.create)
        app.router.add_get("/2010-04-01/Accounts/{sid}/Messages.json", self.list)
        return app

    def _resource(self, m: dict[str, Any]) -> dict[str, Any]:
        return {
            "sid": m["sid"],
            "account_sid": m["account"],
            "to": m["to"],
            "from": m["from"],
            "body": m["body"],
            "status": "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "date_created": format_datetime(m["at"]),
            "date_sent": None,
            "date_updated": format_datetime(m["at"]),
            "uri": f"/2010-04-01/Accounts/{m['account']}/Messages/{m['sid']}.json",
        }

    async def create(self, request: web.Request) -> web.Response:
        form = await request.post()
        message = {
            "sid": f"SM{next(_sids):032x}",
            "account": request.match_info["sid"],
            "to": form["To"],
            "from": form["From"],
            "body": form["Body"],
            "status_callback": form.get("StatusCallback"),
            "at": self.now(),
        }
        self.messages.append(message)
        return web.json_response(self._resource(message), status=201)

    async def list(self, request: web.Request) -> web.Response:
        to, sender = request.query.get("To"), request.query.get("From")
        found = [
            self._resource(m)
            for m in self.messages
            if (to is None or m["to"] == to) and (sender is None or m["from"] == sender)
        ]
        return web.json_response(
            {
                "messages": found,
                "page": 0,
                "page_size": 50,
                "start": 0,
                "end": len(found),
                "first_page_uri": request.path_qs,
                "next_page_uri": None,
                "previous_page_uri": None,
                "uri": request.path_qs,
            }
        )
