"""``GET /api/v1/public/tickets/{number}?code=``: a writer follows their ticket with its query
code. Status, dates and the replies meant for the citizen; nothing personal (no name, phone,
address, content or notes of staff); a wrong code is the same 404 as a missing ticket."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import Field
from sqlalchemy import select

from channels.mailbox import find_by_query_code
from hotline.domain.lifecycle import ACTION_LABELS
from hotline.domain.vocabulary import Role, Status
from hotline.services import ratings
from hotline.services.context import Context
from hotline.services.queries import TicketView
from hotline.storage.evaluation import RatingInvitation
from hotline.web.api.bodies import Body, parse_body
from hotline.web.api.serialize import iso
from hotline.web.errors import read_json_object
from hotline.web.jsonresp import json_response
from hotline.web.keys import CONTEXT

routes = web.RouteTableDef()

#: events whose note is addressed to the citizen
_PUBLIC_NOTES = {"answered": "answer", "rejected": "guidance"}


def public_json(view: TicketView) -> dict[str, Any]:
    t = view.ticket
    status = Status(t.status)
    replies: list[dict[str, Any]] = [
        {"at": iso(a.replied_at), "kind": "reply", "content": a.reply_content}
        for a in view.assignments
        if a.role == Role.LEAD.value and a.reply_content and a.replied_at is not None
    ]
    replies += [
        {"at": iso(e.at), "kind": _PUBLIC_NOTES[e.action], "content": e.note}
        for e in view.events
        if e.action in _PUBLIC_NOTES and e.note
    ]
    replies.sort(key=lambda r: r["at"] or "")
    suspension = None
    if t.suspension:
        expected = datetime.fromisoformat(t.suspension["expected_by"])
        suspension = {"expected_by": iso(expected)}
    return {
        "number": t.number,
        "type": t.type,
        "status": status.value,
        "status_label": status.label,
        "received_at": iso(t.received_at),
        "due_at": iso(t.due_at),
        "updated_at": iso(t.updated_at),
        "closed_at": iso(t.closed_at),
        "suspension": suspension,
        "replies": replies,
        "events": [
            {"at": iso(e.at), "action": e.action, "label": ACTION_LABELS.get(e.action, e.action)}
            for e in view.events
            if e.status_before != e.status_after
        ],
    }


async def rating_open(ctx: Context, ticket_id: int) -> bool:
    """Whether the ticket's latest reply waits for the writer's rating (好差评)."""
    async with ctx.db.sessions() as session:
        return bool(
            await session.scalar(
                select(RatingInvitation.id).where(
                    RatingInvitation.ticket_id == ticket_id, RatingInvitation.status == "pending"
                )
            )
        )


async def lookup(request: web.Request, number: str, code: str) -> TicketView:
    """The ticket behind a public query code, failures counted against the caller's address."""
    return await find_by_query_code(
        request.app[CONTEXT], number, code, client=request.remote or "unknown"
    )


@routes.get("/api/v1/public/tickets/{number}")
async def public_ticket(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    view = await lookup(request, request.match_info["number"], request.query.get("code", ""))
    return json_response(
        {**public_json(view), "rating_open": await rating_open(ctx, view.ticket.id)}
    )


class RatingBody(Body):
    level: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=500)


@routes.post("/api/v1/public/tickets/{number}/rating")
async def rate_ticket(request: web.Request) -> web.Response:
    """The writer rates the reply (1 非常满意 … 5 非常不满意) with the ticket's query code."""
    ctx = request.app[CONTEXT]
    view = await lookup(request, request.match_info["number"], request.query.get("code", ""))
    body = parse_body(RatingBody, await read_json_object(request))
    rating = await ratings.rate(
        ctx, view.ticket.number, body.level, channel="mailbox", comment=body.comment
    )
    return json_response(
        {
            "number": view.ticket.number,
            "level": rating.level,
            "rating": ratings.level_name(rating.level),
        },
        status=201,
    )
