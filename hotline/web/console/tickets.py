"""Tickets in the console: search, the ticket page (history, and the actions the role may take),
and the two actions that carry the version the agent saw (optimistic locking): dispatch and
amending the classification. Everything else on the page posts to the JSON API.

Two agents editing one ticket: the second to save gets 409 ``version_conflict`` with who
changed it, when and how — never a silent overwrite.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import Field

from hotline.domain.errors import Conflict, InvalidField
from hotline.domain.lifecycle import ACTION_LABELS
from hotline.domain.vocabulary import (
    AT_CENTRE,
    OPEN_STATUSES,
    ActorKind,
    RejectReason,
    Status,
    TicketType,
)
from hotline.services import console, queries, tickets
from hotline.services.console import SessionUser
from hotline.services.context import Context
from hotline.web.api.bodies import Body, parse_body
from hotline.web.api.serialize import ticket_json
from hotline.web.auth import Principal
from hotline.web.console.pages import EVERYONE, STAFF, action, fmt_full, is_fragment, page, render
from hotline.web.errors import read_json_object
from hotline.web.jsonresp import json_response
from hotline.web.keys import CONTEXT

routes = web.RouteTableDef()

REJECT_LABELS = {
    RejectReason.OUTSIDE_CITY: "不属于本市范围",
    RejectReason.LITIGATION: "已进入诉讼、仲裁程序",
    RejectReason.PETITION: "属于信访事项",
    RejectReason.PARTY_CONGRESS_COURTS_ARMY: "党委、人大、法院、检察院、军队事项",
    RejectReason.NOT_GOVERNMENT_SERVICE: "不属于政务服务事项",
    RejectReason.NO_CONTENT: "无实质内容",
}


def principal_of(user: SessionUser) -> Principal:
    return Principal(ActorKind(user.role), user.username, user.department, user.user_id)


# -- search ------------------------------------------------------------------------------------


@routes.get("/console/tickets")
@page(STAFF)
async def search(request: web.Request, user: SessionUser) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    q = request.query.get("q", "")[:100]
    status = request.query.get("status") or None
    if status is not None and status not in {s.value for s in Status}:
        raise InvalidField("status", f"未知状态: {status}")
    department = request.query.get("department", "")[:64] or None
    items = await console.search_tickets(
        ctx, text=q, status=status, department=department, limit=ctx.config.console.page_size
    )
    context = {
        "items": items,
        "q": q,
        "status": status or "",
        "department": department or "",
        "statuses": [(s.value, s.label) for s in Status],
    }
    template = "console/_ticket_rows.html" if is_fragment(request) else "console/tickets.html"
    return await render(request, user, template, context, active="tickets")


# -- the ticket page ---------------------------------------------------------------------------


@routes.get("/console/tickets/{number}")
@page(EVERYONE)
async def ticket_page(request: web.Request, user: SessionUser) -> web.StreamResponse:
    ctx = request.app[CONTEXT]
    number = request.match_info["number"][:32]
    staff = user.role in STAFF
    scope = user.department if not staff else None
    view = await queries.get_ticket(ctx, number, scope_department=scope)
    now = ctx.clock.now()
    ticket = ticket_json(view, now=now, staff=staff)
    status = Status(view.ticket.status)
    mine = None
    if not staff:
        mine = next(
            (
                a
                for a in ticket["assignments"]
                if a["department"] == user.department
                and a["status"] in ("dispatched", "signed", "in_progress", "suspended")
            ),
            None,
        )
    suggestion = None
    if staff and status in AT_CENTRE:
        suggestion = await console.suggestion_for(ctx, view.ticket)
    can_return = can_extend = False
    if mine is not None:
        can_return = datetime.fromisoformat(mine["return_due_at"]) > now
        can_extend = mine["extensions_granted"] < ctx.config.time_limits.max_extensions
    state = await tickets.read_state(ctx, number)
    pending_extension = state.pending_extension
    if not staff and (
        mine is None or getattr(pending_extension, "assignment_id", None) != mine["id"]
    ):
        pending_extension = None  # a unit sees its own request only
    pending_returns: list[dict[str, Any]] = []
    if staff:
        pending_returns = [
            {"id": r.id, "reason": r.reason, "requested_at": r.requested_at}
            for r in state.pending_returns
        ]
    return await render(
        request,
        user,
        "console/ticket.html",
        {
            "t": ticket,
            "status": status,
            "staff": staff,
            "is_open": status in OPEN_STATUSES,
            "at_centre": status in AT_CENTRE,
            "with_department": status.is_with_department,
            "mine": mine,
            "can_return": can_return,
            "can_extend": can_extend and state.pending_extension is None,
            "suggestion": suggestion,
            "pending_extension": pending_extension,
            "pending_returns": pending_returns,
            "types": [t.value for t in TicketType],
            "reject_reasons": [(r.value, REJECT_LABELS[r]) for r in RejectReason],
            "supervisor": user.role in ("supervisor", "admin"),
        },
        active="tickets" if staff else "department",
    )


# -- actions with the version the agent saw ----------------------------------------------------


async def version_conflict(ctx: Context, number: str, seen: int) -> Conflict:
    """A message that says what happened: who changed the ticket, when, and how."""
    last = await console.last_change(ctx, number)
    if last is None:
        return Conflict(f"工单 {number} 已被他人修改，请刷新后重试", code="version_conflict")
    what = ACTION_LABELS.get(last.action, last.action)
    return Conflict(
        f"保存失败：工单 {number} 已于 {fmt_full(last.at)} 被 {last.actor_id} {what}"
        f"（您看到的是第 {seen} 版，现在是第 {last.seq} 版）。您的修改没有保存，"
        "请刷新查看最新内容后再操作。",
        code="version_conflict",
    )


class DispatchBody(Body):
    department: str = Field(min_length=1, max_length=64)
    co_handlers: list[str] = Field(default_factory=list, max_length=10)
    expected_version: int


@routes.post("/console/api/tickets/{number}/dispatch")
@action(STAFF)
async def dispatch(request: web.Request, user: SessionUser) -> web.StreamResponse:
    """派单 to the unit the agent chose: the engine's suggestion accepted, or overridden."""
    ctx = request.app[CONTEXT]
    number = request.match_info["number"][:32]
    body = parse_body(DispatchBody, await read_json_object(request))
    try:
        await console.dispatch_chosen(
            ctx,
            number,
            body.department,
            body.co_handlers,
            principal_of(user).actor,
            body.expected_version,
        )
    except Conflict as exc:
        if exc.code != "version_conflict":
            raise
        raise await version_conflict(ctx, number, body.expected_version) from exc
    return await _ticket(ctx, number)


class AmendBody(Body):
    type: str | None = None
    category: str | None = Field(default=None, max_length=64)
    division: str | None = Field(default=None, max_length=40)
    urgency: str | None = None
    confidential: bool | None = None
    expected_version: int


@routes.post("/console/api/tickets/{number}/amend")
@action(STAFF)
async def amend(request: web.Request, user: SessionUser) -> web.StreamResponse:
    """修改工单: type, category, place, urgency, confidentiality — with the version seen."""
    ctx = request.app[CONTEXT]
    number = request.match_info["number"][:32]
    body = parse_body(AmendBody, await read_json_object(request))
    try:
        await console.amend(
            ctx,
            number,
            principal_of(user).actor,
            body.expected_version,
            type=body.type,
            category=body.category,
            division=body.division,
            urgency=body.urgency,
            confidential=body.confidential,
        )
    except Conflict as exc:
        if exc.code != "version_conflict":
            raise
        raise await version_conflict(ctx, number, body.expected_version) from exc
    return await _ticket(ctx, number)


async def _ticket(ctx: Context, number: str) -> web.Response:
    view = await queries.get_ticket(ctx, number)
    return json_response(ticket_json(view, now=ctx.clock.now()))
