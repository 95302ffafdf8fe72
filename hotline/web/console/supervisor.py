"""The supervisor's (值班长) pages: the wallboard, return reviews, extension decisions, duplicate
merges, escalation (督办) of late tickets, hotspots and the outbox's dead letters.

The pages read through :mod:`hotline.services.console`; decisions post to the JSON API
(``returns/{id}/decision``, ``extensions/{id}/decision``, ``tickets/{n}/merge``,
``tickets/{n}/supervise``, ``hotspots/{id}/studied``, ``outbox/{id}/retry``), whose role checks
apply to the session as to any key.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hotline.services import console, outbox
from hotline.services.console import SessionUser
from hotline.web.console.pages import SUPERVISORS, is_fragment, page, render
from hotline.web.keys import CONTEXT

routes = web.RouteTableDef()


async def _page(
    request: web.Request,
    user: SessionUser,
    name: str,
    context: dict[str, Any],
) -> web.StreamResponse:
    template = f"console/_{name}.html" if is_fragment(request) else f"console/{name}.html"
    return await render(request, user, template, context, active=name)


@routes.get("/console/wallboard")
@page(SUPERVISORS)
async def wallboard(request: web.Request, user: SessionUser) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    board = await console.wallboard(ctx)
    agents = await console.agent_board(ctx)
    calls = await console.live_calls(ctx)
    return await _page(
        request, user, "wallboard", {"board": board, "agents": agents, "calls": calls}
    )


@routes.get("/console/returns")
@page(SUPERVISORS)
async def returns(request: web.Request, user: SessionUser) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    items = await console.pending_returns(ctx)
    rows = [(item, await console.suggestion_for(ctx, item.line)) for item in items]
    return await _page(request, user, "returns", {"rows": rows})


@routes.get("/console/extensions")
@page(SUPERVISORS)
async def extensions(request: web.Request, user: SessionUser) -> web.StreamResponse:
    items = await console.pending_extensions(request.app[CONTEXT])
    return await _page(request, user, "extensions", {"items": items})


@routes.get("/console/duplicates")
@page(SUPERVISORS)
async def duplicates(request: web.Request, user: SessionUser) -> web.StreamResponse:
    items = await console.duplicate_candidates(request.app[CONTEXT])
    return await _page(request, user, "duplicates", {"items": items})


@routes.get("/console/escalation")
@page(SUPERVISORS)
async def escalation(request: web.Request, user: SessionUser) -> web.StreamResponse:
    items = await console.escalation_list(request.app[CONTEXT])
    return await _page(request, user, "escalation", {"items": items})


@routes.get("/console/hotspots")
@page(SUPERVISORS)
async def hotspots(request: web.Request, user: SessionUser) -> web.StreamResponse:
    items = await console.hotspot_list(request.app[CONTEXT])
    return await _page(request, user, "hotspots", {"items": items})


@routes.get("/console/outbox")
@page(SUPERVISORS)
async def dead_letters(request: web.Request, user: SessionUser) -> web.StreamResponse:
    found = await outbox.list_messages(request.app[CONTEXT], status="dead", limit=100)
    return await _page(request, user, "outbox", {"items": found.items})
