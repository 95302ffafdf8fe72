"""``GET /api/v1/public/tickets/{number}?code=``: a writer follows their ticket with its query
code. Status, dates and the replies meant for the citizen; nothing personal (no name, phone,
address, content or notes of staff); a wrong code is the same 404 as a missing ticket."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from channels.mailbox import find_by_query_code
from hotline.domain.lifecycle import ACTION_LABELS
from hotline.domain.vocabulary import Role, Status
from hotline.services.queries import TicketView
from hotline.web.api.serialize import iso
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


@routes.get("/api/v1/public/tickets/{number}")
async def public_ticket(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    view = await find_by_query_code(
        ctx, request.match_info["number"], request.query.get("code", "")
    )
    return json_response(public_json(view))
