"""``/api/v1/calls`` and ``/api/v1/agents``: call records, one-key transfer, agents' states."""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import Field
from sqlalchemy import select

from hotline.domain.errors import Forbidden, InvalidField
from hotline.domain.vocabulary import ActorKind, EmergencyService
from hotline.storage.calls import AgentState, Call, TransferAttempt
from hotline.storage.tickets import Ticket
from hotline.storage.users import User
from hotline.web.api.bodies import Body, parse_body
from hotline.web.api.serialize import iso
from hotline.web.auth import Principal, require
from hotline.web.errors import read_json_object
from hotline.web.jsonresp import json_response
from hotline.web.keys import CONTEXT
from ivr import calls
from ivr.runner import kick_acd
from ivr.transfer import transfer_live_call

STAFF = (ActorKind.ADMIN, ActorKind.AGENT, ActorKind.SUPERVISOR)
MANAGERS = (ActorKind.ADMIN, ActorKind.SUPERVISOR)

routes = web.RouteTableDef()


def attempt_json(a: TransferAttempt) -> dict[str, Any]:
    return {
        "id": a.id,
        "target": a.target,
        "number": a.number,
        "via": a.via,
        "fallback": a.fallback,
        "result": a.result,
        "started_at": iso(a.started_at),
        "ended_at": iso(a.ended_at),
        "detail": a.detail,
    }


def call_json(call: Call, attempts: list[TransferAttempt] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "call_sid": call.call_sid,
        "from": call.from_number,
        "to": call.to_number,
        "status": call.status,
        "stage": call.stage,
        "priority": call.priority,
        "priority_reasons": list(call.priority_reasons or []),
        "arrived_at": iso(call.arrived_at),
        "queued_at": iso(call.queued_at),
        "answered_at": iso(call.answered_at),
        "ended_at": iso(call.ended_at),
        "wait_seconds": call.wait_seconds,
        "talk_seconds": call.talk_seconds,
        "abandoned": call.abandoned,
        "agent_id": call.agent_id,
        "recording_url": call.recording_url,
        "ticket_id": call.ticket_id,
    }
    if attempts is not None:
        body["transfers"] = [attempt_json(a) for a in attempts]
    return body


@routes.get("/api/v1/calls/{call_sid}")
async def get_call(request: web.Request) -> web.Response:
    await require(request, STAFF)
    ctx = request.app[CONTEXT]
    call, attempts = await calls.get_call(ctx, request.match_info["call_sid"])
    body = call_json(call, attempts)
    if call.ticket_id is not None:
        async with ctx.db.sessions() as session:
            body["ticket"] = await session.scalar(
                select(Ticket.number).where(Ticket.id == call.ticket_id)
            )
    else:
        body["ticket"] = None
    return json_response(body)


@routes.get("/api/v1/calls")
async def list_calls(request: web.Request) -> web.Response:
    await require(request, STAFF)
    stage = request.query.get("stage")
    if stage is not None and stage not in calls.STAGES:
        raise InvalidField("stage", f"必须是 {'、'.join(calls.STAGES)} 之一")
    try:
        limit = int(request.query.get("limit", "50"))
    except ValueError as exc:
        raise InvalidField("limit", "必须是整数") from exc
    if not 1 <= limit <= 200:
        raise InvalidField("limit", "必须在 1 到 200 之间")
    stmt = select(Call).order_by(Call.arrived_at.desc()).limit(limit)
    if stage is not None:
        stmt = stmt.where(Call.stage == stage)
    async with request.app[CONTEXT].db.sessions() as session:
        rows = list(await session.scalars(stmt))
    return json_response({"items": [call_json(c) for c in rows]})


class TransferBody(Body):
    target: Literal["110", "119", "120"]


@routes.post("/api/v1/calls/{call_sid}/transfer")
async def transfer(request: web.Request) -> web.Response:
    """一键转接 from a live call: the caller joins a conference with the dispatch centre while
    the agent stays on. 202: the attempt is under way; its result comes by callback."""
    principal = await require(request, STAFF)
    body = parse_body(TransferBody, await read_json_object(request))
    attempt = await transfer_live_call(
        request.app,
        request.match_info["call_sid"],
        EmergencyService(body.target),
        agent_id=principal.user_id,
    )
    return json_response({"attempt": attempt_json(attempt)}, status=202)


class AgentStateBody(Body):
    state: Literal["available", "on_call", "wrap_up", "offline"]
    phone: str | None = Field(default=None, max_length=32)
    client_identity: str | None = Field(default=None, max_length=64)


def agent_json(user: User, agent: AgentState) -> dict[str, Any]:
    return {
        "username": user.username,
        "name": user.display_name,
        "state": agent.state,
        "since": iso(agent.state_since),
        "phone": agent.phone,
        "client_identity": agent.client_identity,
        "current_call_sid": agent.current_call_sid,
    }


def _may_set(principal: Principal, username: str) -> None:
    if principal.kind in MANAGERS:
        return
    if principal.kind is ActorKind.AGENT and principal.id == username:
        return
    raise Forbidden("坐席只能修改自己的状态")


@routes.put("/api/v1/agents/{username}/state")
async def set_agent_state(request: web.Request) -> web.Response:
    principal = await require(request, STAFF)
    username = request.match_info["username"]
    _may_set(principal, username)
    body = parse_body(AgentStateBody, await read_json_object(request))
    ctx = request.app[CONTEXT]
    agent = await calls.set_agent_state(
        ctx, username, body.state, phone=body.phone, client_identity=body.client_identity
    )
    if agent.state == "available":
        kick_acd(request.app)
    async with ctx.db.sessions() as session:
        user = await session.get(User, agent.user_id)
    assert user is not None  # noqa: S101 - set_agent_state found it
    return json_response(agent_json(user, agent))


@routes.get("/api/v1/agents")
async def list_agents(request: web.Request) -> web.Response:
    await require(request, STAFF)
    pairs = await calls.agents(request.app[CONTEXT])
    return json_response({"items": [agent_json(u, a) for u, a in pairs]})
