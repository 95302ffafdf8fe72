"""The agent desk (坐席工作台): state shared with the ACD, the screen pop with the caller's
history, the ticket form with the routing engine's suggestions, the knowledge base, and one-key
transfer to 110/119/120 on a live call.

The page is rendered here; what the agent does goes to the JSON API (agents' state, tickets,
``route/suggest``, ``kb``, ``calls/{sid}/transfer``) with the session's CSRF header, and live
events (WebSocket) tell the page when a call is offered, answered or ends.
"""

from __future__ import annotations

from aiohttp import web

from hotline.domain.vocabulary import TicketType
from hotline.services import console
from hotline.services.console import SessionUser
from hotline.web.console.pages import STAFF, page, render
from hotline.web.keys import CONTEXT

routes = web.RouteTableDef()


@routes.get("/console/desk")
@page(STAFF)
async def desk(request: web.Request, user: SessionUser) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    state = await console.desk_state(ctx, user.user_id)
    caller = None
    if state.call is not None:
        caller = await console.caller_history(ctx, call_sid=state.call.call_sid)
    calls = await console.live_calls(ctx)
    ref = await ctx.reference.get()
    refdata = {
        "departments": {d.code: d.name for d in ref.departments.values()},
        "divisions": {d.code: d.name for d in ref.divisions.values()},
        "categories": {c.code: c.name for c in ref.categories.values()},
    }
    return await render(
        request,
        user,
        "console/desk.html",
        {
            "state": state,
            "caller": caller,
            "calls": calls,
            "types": [t.value for t in TicketType],
            "emergency_configured": sorted(k.value for k in ctx.config.emergency),
            "refdata": refdata,
        },
        active="desk",
    )


@routes.get("/console/desk/caller")
@page(STAFF)
async def caller(request: web.Request, user: SessionUser) -> web.StreamResponse:
    """The screen pop: the caller's number, open and past tickets (a fragment)."""
    ctx = request.app[CONTEXT]
    call_sid = request.query.get("call", "").strip()[:64] or None
    phone = request.query.get("phone", "").strip()[:64] or None
    history = await console.caller_history(ctx, call_sid=call_sid, phone=phone)
    return await render(request, user, "console/_caller.html", {"caller": history})


@routes.get("/console/desk/calls")
@page(STAFF)
async def calls(request: web.Request, user: SessionUser) -> web.StreamResponse:
    """Calls in progress (a fragment refreshed on call events)."""
    ctx = request.app[CONTEXT]
    return await render(
        request, user, "console/_calls.html", {"calls": await console.live_calls(ctx)}
    )


@routes.get("/console/desk/state")
@page(STAFF)
async def state(request: web.Request, user: SessionUser) -> web.StreamResponse:
    """The agent's own state as the ACD sees it (JSON for the page's state panel)."""
    current = await console.desk_state(request.app[CONTEXT], user.user_id)
    return web.json_response(
        {
            "state": current.state,
            "call_sid": current.call.call_sid if current.call else None,
            "stage": current.call.stage if current.call else None,
        },
        headers={"Cache-Control": "no-store"},
    )
