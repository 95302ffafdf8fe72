"""``/api/v1/tickets``: create, read and list (CONTRACT.md, "Tickets")."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from hotline.domain.errors import InvalidField
from hotline.domain.intake import IntakeValue
from hotline.domain.vocabulary import ActorKind, Channel, Status, TicketType, Urgency
from hotline.services import intake, queries
from hotline.web.api.bodies import TicketCreate, parse_body
from hotline.web.api.serialize import ticket_json
from hotline.web.auth import Principal, require
from hotline.web.errors import read_json_object
from hotline.web.jsonresp import json_response
from hotline.web.keys import CONTEXT, METRICS

STAFF = (ActorKind.ADMIN, ActorKind.AGENT, ActorKind.SUPERVISOR)
READERS = (*STAFF, ActorKind.DEPARTMENT)

routes = web.RouteTableDef()


def _scope(principal: Principal) -> str | None:
    return principal.department if principal.kind is ActorKind.DEPARTMENT else None


async def _validate_codes(request: web.Request, body: TicketCreate) -> None:
    ref = await request.app[CONTEXT].reference.get()
    if body.category is not None and body.category not in ref.categories:
        raise InvalidField("category", f"未知的诉求分类: {body.category}")
    if body.division is not None:
        division = ref.divisions.get(body.division)
        if division is None or division.level != "county":
            raise InvalidField("division", f"未知的行政区划: {body.division}")
    if body.street is not None:
        street = ref.divisions.get(body.street)
        if street is None or street.level != "street":
            raise InvalidField("street", f"未知的街道(乡镇): {body.street}")


@routes.post("/api/v1/tickets")
async def create_ticket(request: web.Request) -> web.Response:
    principal = await require(request, STAFF)
    body = parse_body(TicketCreate, await read_json_object(request))
    try:
        ticket_type = TicketType.parse(body.type)
    except ValueError as exc:
        allowed = "、".join(t.value for t in TicketType)
        raise InvalidField("type", f"必须是 {allowed} 之一") from exc
    try:
        channel = Channel(body.channel) if body.channel else Channel.API
    except ValueError as exc:
        raise InvalidField("channel", f"未知渠道: {body.channel}") from exc
    await _validate_codes(request, body)
    ctx = request.app[CONTEXT]
    key = request.headers.get("Idempotency-Key") or f"auto-{uuid.uuid4()}"
    if len(key) > 200:
        raise InvalidField("Idempotency-Key", "不能超过 200 个字符")
    ref = f"{principal.kind.value}:{principal.id}:{key}"
    payload: dict[str, Any] = {"api_body": body.model_dump(exclude_none=True)}
    if body.call_sid is not None:
        # A ticket about a live call: the call's own contact gets it, or (a second matter in
        # the same call) a contact of its own; the call is linked either way.
        state = await intake.contact_state(ctx, Channel.PHONE.value, body.call_sid)
        if state is None:
            raise InvalidField("call_sid", f"没有这个通话: {body.call_sid}")
        channel = Channel.PHONE
        first = not state.ticketed or state.payload.get("idempotency_key") == key
        ref = body.call_sid if first else f"{body.call_sid}:{key}"
        payload["CallSid"] = body.call_sid
        payload["idempotency_key"] = key
    value = IntakeValue(
        channel=channel,
        channel_ref=ref,
        received_at=ctx.clock.now(),
        content=body.content,
        title=body.title,
        type=ticket_type,
        category=body.category,
        address=body.address,
        division=body.division,
        street=body.street,
        latitude=body.latitude,
        longitude=body.longitude,
        phone=body.phone,
        name=body.name,
        real_name=body.real_name,
        confidential=body.confidential,
        needs_assistance=body.needs_assistance,
        urgency=Urgency(body.urgency),
        payload=payload,
    )
    result = await intake.take_in(ctx, value, principal.actor)
    request.app[METRICS].contacts.labels(
        channel.value, "created" if result.created else "repeat"
    ).inc()
    view = await queries.get_ticket(ctx, result.number)
    return json_response(
        ticket_json(view, now=ctx.clock.now()), status=201 if result.created else 200
    )


@routes.get("/api/v1/tickets/{number}")
async def get_ticket(request: web.Request) -> web.Response:
    principal = await require(request, READERS)
    number = request.match_info["number"]
    ctx = request.app[CONTEXT]
    view = await queries.get_ticket(ctx, number, scope_department=_scope(principal))
    return json_response(ticket_json(view, now=ctx.clock.now(), staff=principal.kind in STAFF))


def _bool_param(name: str, value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    lowered = value.lower()
    if lowered in ("1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no"):
        return False
    raise InvalidField(name, "必须是 true 或 false")


def _filters(request: web.Request, principal: Principal) -> tuple[queries.TicketFilter, int]:
    q = request.query
    status: Status | None = None
    if q.get("status"):
        try:
            status = Status(q["status"])
        except ValueError as exc:
            raise InvalidField("status", f"未知状态: {q['status']}") from exc
    try:
        limit = int(q.get("limit", "50"))
    except ValueError as exc:
        raise InvalidField("limit", "必须是整数") from exc
    filters = queries.TicketFilter(
        status=status,
        department=q.get("department") or None,
        division=q.get("division") or None,
        overdue=_bool_param("overdue", q.get("overdue")),
        scope_department=_scope(principal),
    )
    return filters, limit


@routes.get("/api/v1/tickets")
async def list_tickets(request: web.Request) -> web.Response:
    principal = await require(request, READERS)
    filters, limit = _filters(request, principal)
    ctx = request.app[CONTEXT]
    page = await queries.list_tickets(ctx, filters, limit=limit, cursor=request.query.get("cursor"))
    now = ctx.clock.now()
    payload: dict[str, Any] = {
        "items": [ticket_json(v, now=now, staff=principal.kind in STAFF) for v in page.items],
        "next_cursor": page.next_cursor,
    }
    return json_response(payload)
