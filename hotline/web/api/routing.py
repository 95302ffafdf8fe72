"""``POST /api/v1/route/suggest``: what the routing engine makes of a text (CONTRACT.md)."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from dispatch.auto import suggest_for
from hotline.domain.vocabulary import ActorKind
from hotline.web.api.bodies import Body, parse_body
from hotline.web.auth import require
from hotline.web.errors import read_json_object
from hotline.web.jsonresp import json_response
from hotline.web.keys import CONTEXT

routes = web.RouteTableDef()


class SuggestBody(Body):
    text: str = Field(min_length=1, max_length=20_000)
    address: str | None = Field(default=None, max_length=500)


@routes.post("/api/v1/route/suggest")
async def route_suggest(request: web.Request) -> web.Response:
    await require(request, (ActorKind.ADMIN, ActorKind.AGENT, ActorKind.SUPERVISOR))
    body = parse_body(SuggestBody, await read_json_object(request))
    found = await suggest_for(request.app[CONTEXT], body.text, body.address)
    return json_response(found.to_json())
