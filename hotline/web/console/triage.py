"""The triage queue (分派队列): tickets waiting at the centre — text contacts the routing engine
was not sure enough of, and whatever an agent registered without dispatching — each with the
engine's suggestion and its explanation. Enter accepts the suggestion (dispatch to the suggested
unit); ``o`` overrides it with another unit. Both go through the versioned dispatch action.
"""

from __future__ import annotations

from aiohttp import web

from hotline.services import console
from hotline.services.console import SessionUser
from hotline.web.console.pages import STAFF, is_fragment, page, render
from hotline.web.keys import CONTEXT

routes = web.RouteTableDef()


@routes.get("/console/triage")
@page(STAFF)
async def triage(request: web.Request, user: SessionUser) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    items, total = await console.triage_queue(ctx, limit=ctx.config.console.page_size)
    rows = [(item, await console.suggestion_for(ctx, item.line)) for item in items]
    template = "console/_triage_rows.html" if is_fragment(request) else "console/triage.html"
    return await render(request, user, template, {"rows": rows, "total": total}, active="triage")
