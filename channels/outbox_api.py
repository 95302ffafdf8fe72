"""``/api/v1/outbox``: the messages the hotline sends, for agents and supervisors to watch, and
dead letters (sends that failed for good) to retry once the cause is fixed."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hotline.domain.errors import InvalidField
from hotline.domain.vocabulary import ActorKind
from hotline.services import outbox
from hotline.web.api.serialize import iso
from hotline.web.auth import require
from hotline.web.jsonresp import json_response
from hotline.web.keys import CONTEXT

routes = web.RouteTableDef()

STAFF = (ActorKind.ADMIN, ActorKind.SUPERVISOR, ActorKind.AGENT)


def message_json(view: outbox.MessageView) -> dict[str, Any]:
    m = view.row
    return {
        "id": m.id,
        "kind": m.kind,
        "purpose": m.purpose,
        "key": m.key,
        "recipient": m.recipient,
        "body": m.body,
        "payload": m.payload,
        "ticket": view.ticket_number,
        "status": m.status,
        "attempts": m.attempts,
        "next_attempt_at": iso(m.next_attempt_at),
        "last_error": m.last_error,
        "errors": m.errors,
        "provider_ref": m.provider_ref,
        "delivery_status": m.delivery_status,
        "delivery_error": m.delivery_error,
        "created_at": iso(m.created_at),
        "updated_at": iso(m.updated_at),
        "sent_at": iso(m.sent_at),
        "dead_at": iso(m.dead_at),
    }


#: ids are database integers; anything outside is no message (and must not reach the driver)
MAX_ID = 2**63 - 1


def _int(name: str, value: str | None, default: int | None) -> int | None:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise InvalidField(name, "必须是整数") from exc
    if not 0 <= number <= MAX_ID:
        raise InvalidField(name, f"必须在 0 到 {MAX_ID} 之间")
    return number


@routes.get("/api/v1/outbox")
async def list_outbox(request: web.Request) -> web.Response:
    await require(request, STAFF)
    q = request.query
    page = await outbox.list_messages(
        request.app[CONTEXT],
        status=q.get("status") or None,
        kind=q.get("kind") or None,
        ticket=q.get("ticket") or None,
        limit=_int("limit", q.get("limit"), 50) or 50,
        before=_int("cursor", q.get("cursor"), None),
    )
    return json_response(
        {
            "items": [message_json(v) for v in page.items],
            "next_cursor": str(page.next_cursor) if page.next_cursor is not None else None,
        }
    )


def _id(request: web.Request) -> int:
    value = _int("id", request.match_info["id"], None)
    assert value is not None  # noqa: S101 - the route requires it
    return value


@routes.get("/api/v1/outbox/{id}")
async def get_outbox(request: web.Request) -> web.Response:
    await require(request, STAFF)
    return json_response(message_json(await outbox.get_message(request.app[CONTEXT], _id(request))))


@routes.post("/api/v1/outbox/{id}/retry")
async def retry_outbox(request: web.Request) -> web.Response:
    principal = await require(request, STAFF)
    view = await outbox.retry(request.app[CONTEXT], _id(request), principal.actor.label)
    return json_response(message_json(view))
