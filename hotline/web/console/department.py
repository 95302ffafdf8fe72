"""The department desk (承办单位工作台) for units without a system of their own: their tickets
with sign-for and due times, nearest first. Each ticket's page offers the unit's actions — sign,
progress, reply, return, extension request, suspension — posted to the same JSON endpoints as a
department key uses, so the same rules apply (a unit sees and acts on its own tickets only).
"""

from __future__ import annotations

from aiohttp import web

from hotline.services import console
from hotline.services.console import SessionUser
from hotline.web.console.pages import DEPARTMENTS, is_fragment, page, render
from hotline.web.keys import CONTEXT

routes = web.RouteTableDef()


@routes.get("/console/department")
@page(DEPARTMENTS)
async def desk(request: web.Request, user: SessionUser) -> web.StreamResponse:
    assert user.department is not None  # noqa: S101 - department users always have one
    items = await console.department_tickets(request.app[CONTEXT], user.department)
    template = "console/_department.html" if is_fragment(request) else "console/department.html"
    return await render(request, user, template, {"items": items}, active="department")
