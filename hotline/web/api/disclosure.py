"""The public feed of rated replies (条例第五十二条): ``GET /public/evaluations`` (a page) and
``GET /api/v1/public/evaluations?limit=&cursor=`` (JSON). No credentials; no personal data
(see :mod:`hotline.services.disclosure`)."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from hotline.calendar import to_shanghai
from hotline.domain.errors import InvalidField
from hotline.services.disclosure import DEFAULT_PAGE, PublicEvaluation, public_evaluations
from hotline.web.api.serialize import iso
from hotline.web.jsonresp import json_response
from hotline.web.keys import CONTEXT

routes = web.RouteTableDef()


def item_json(item: PublicEvaluation) -> dict[str, Any]:
    return {
        "number": item.number,
        "category": item.category,
        "division": item.division,
        "department": item.department,
        "replied_at": iso(item.replied_at),
        "reply": item.reply,
        "rating": item.rating,
    }


def _limit(request: web.Request) -> int:
    text = request.query.get("limit", "").strip()
    if not text:
        return DEFAULT_PAGE
    if not (text.isascii() and text.isdigit()) or len(text) > 6:
        raise InvalidField("limit", "必须是 1 到 100 之间的整数")
    return int(text)


def _cursor(request: web.Request) -> str | None:
    return request.query.get("cursor") or None


@routes.get("/api/v1/public/evaluations")
async def evaluations_json(request: web.Request) -> web.Response:
    page = await public_evaluations(
        request.app[CONTEXT], limit=_limit(request), cursor=_cursor(request)
    )
    return json_response(
        {"items": [item_json(i) for i in page.items], "next_cursor": page.next_cursor}
    )


@routes.get("/public/evaluations")
async def evaluations_page(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    try:
        page = await public_evaluations(ctx, limit=_limit(request), cursor=_cursor(request))
    except InvalidField:
        # a stale or hand-edited link: show the first page rather than an error
        page = await public_evaluations(ctx)
    rows = [
        {
            **item_json(i),
            "replied_on": _cn_time(i),
        }
        for i in page.items
    ]
    return aiohttp_jinja2.render_template(
        "public/evaluations.html",
        request,
        {"items": rows, "next_cursor": page.next_cursor, "centre": ctx.config.city.name},
    )


def _cn_time(item: PublicEvaluation) -> str:
    if item.replied_at is None:
        return ""
    local = to_shanghai(item.replied_at)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
