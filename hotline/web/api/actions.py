"""Ticket actions (CONTRACT.md): the centre's (dispatch, answer, reject, supervise, merge,
reopen, close), the units' (sign, progress, reply, return, extension, suspend) and the
supervisors' decisions on returns and extensions.

A department key acts only on tickets assigned to its unit; for any other ticket it gets 404,
as if the ticket did not exist. ``Idempotency-Key`` makes a retry safe: the same key, body and
caller get the first answer again and nothing is done twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import wraps
from typing import Any

from aiohttp import web
from pydantic import Field

from dispatch import auto
from dispatch import service as dispatching
from hotline.domain.errors import InvalidField
from hotline.domain.lifecycle import (
    AnswerDirectly,
    Close,
    Progress,
    Reject,
    Reopen,
    Reply,
    Resume,
    Sign,
    Supervise,
    Suspend,
)
from hotline.domain.vocabulary import ActorKind, RejectReason
from hotline.services import knowledge, queries, tickets, webhooks
from hotline.web.api.bodies import Body, parse_body
from hotline.web.api.serialize import ticket_json
from hotline.web.auth import Principal, authenticate, require
from hotline.web.errors import read_json_object, render_exception
from hotline.web.jsonresp import json_response
from hotline.web.keys import CONTEXT
from hotline.web.once import respond_once

STAFF = (ActorKind.ADMIN, ActorKind.AGENT, ActorKind.SUPERVISOR)
SUPERVISORS = (ActorKind.ADMIN, ActorKind.SUPERVISOR)
DEPARTMENT = (ActorKind.DEPARTMENT,)

routes = web.RouteTableDef()

Handler = Callable[[web.Request], Awaitable[web.Response]]


def idempotent(handler: Handler) -> Handler:
    """Honour ``Idempotency-Key``: the first answer (success or 4xx) is kept and repeated."""

    @wraps(handler)
    async def wrapper(request: web.Request) -> web.Response:
        key = request.headers.get("Idempotency-Key")
        if not key:
            return await handler(request)
        if len(key) > 200:
            raise InvalidField("Idempotency-Key", "不能超过 200 个字符")
        body = await request.read()
        # keys are the caller's own: one per API key, admin token or signed-in console user
        who = await authenticate(request)
        delivery = webhooks.delivery_key(
            "api",
            f"{who.kind.value}:{who.id}" if who is not None else "anonymous",
            request.method,
            request.rel_url.raw_path_qs,
            key,
            hashlib.sha256(body).hexdigest(),
        )

        async def run() -> web.Response:
            try:
                return await handler(request)
            except web.HTTPException:
                raise
            except Exception as exc:
                # a domain refusal is an answer too: kept, so the retry hears the same
                rendered = render_exception(request, exc)
                if rendered is None or rendered.status >= 500:
                    raise
                return rendered

        return await respond_once(request, "api", delivery, run, busy=web.HTTPConflict)

    return wrapper


async def _visible(request: web.Request, principal: Principal) -> str:
    """The ticket number, if the caller may see the ticket (a unit: only its own)."""
    number = request.match_info["number"]
    scope = principal.department if principal.kind is ActorKind.DEPARTMENT else None
    await queries.get_ticket(request.app[CONTEXT], number, scope_department=scope)
    return number


async def _ticket_response(
    request: web.Request, principal: Principal, number: str, status: int = 200
) -> web.Response:
    ctx = request.app[CONTEXT]
    scope = principal.department if principal.kind is ActorKind.DEPARTMENT else None
    view = await queries.get_ticket(ctx, number, scope_department=scope)
    body = ticket_json(view, now=ctx.clock.now(), staff=principal.kind in STAFF)
    return json_response(body, status=status)


def _department(principal: Principal) -> str:
    assert principal.department is not None  # noqa: S101 - department keys always have one
    return principal.department


# -- the centre --------------------------------------------------------------------------------


class DispatchBody(Body):
    department: str | None = Field(default=None, max_length=64)
    co_handlers: list[str] = Field(default_factory=list, max_length=10)
    expected_version: int | None = None


@routes.post("/api/v1/tickets/{number}/dispatch")
@idempotent
async def dispatch_ticket(request: web.Request) -> web.Response:
    """派单: to the named unit, or where the routing engine decides."""
    principal = await require(request, STAFF)
    body = parse_body(DispatchBody, await read_json_object(request))
    number = await _visible(request, principal)
    ctx = request.app[CONTEXT]
    if body.department is None:
        decision = await auto.route_ticket(ctx, number)
        if decision.department is None:
            raise InvalidField(
                "department",
                "派单目录无法确定承办单位，请人工指定(" + "；".join(decision.explanation) + ")",
            )
        await dispatching.dispatch_to(
            ctx,
            number,
            decision.department,
            principal.actor,
            list(decision.co_handlers)
            + [c for c in body.co_handlers if c not in decision.co_handlers],
            rule=dispatching.rule_label(decision),
            expected_version=body.expected_version,
        )
    else:
        await dispatching.dispatch_to(
            ctx,
            number,
            body.department,
            principal.actor,
            body.co_handlers,
            rule="manual",
            expected_version=body.expected_version,
        )
    return await _ticket_response(request, principal, number)


class AnswerBody(Body):
    answer: str = Field(min_length=1, max_length=10_000)
    kb_article: str | None = Field(default=None, max_length=64)


@routes.post("/api/v1/tickets/{number}/answer")
@idempotent
async def answer(request: web.Request) -> web.Response:
    """直接答复 (第四十九条第一项), optionally citing a knowledge-base article."""
    principal = await require(request, STAFF)
    body = parse_body(AnswerBody, await read_json_object(request))
    number = await _visible(request, principal)
    ctx = request.app[CONTEXT]
    cited = await knowledge.cite(ctx, body.kb_article) if body.kb_article else None
    await tickets.perform(ctx, number, AnswerDirectly(body.answer, cited), principal.actor)
    return await _ticket_response(request, principal, number)


class RejectBody(Body):
    reason_code: str
    guidance: str = Field(min_length=1, max_length=2000)


@routes.post("/api/v1/tickets/{number}/reject")
@idempotent
async def reject(request: web.Request) -> web.Response:
    """不予受理 with where to go instead (第四十九条第三项)."""
    principal = await require(request, STAFF)
    body = parse_body(RejectBody, await read_json_object(request))
    try:
        reason = RejectReason(body.reason_code)
    except ValueError as exc:
        allowed = ", ".join(r.value for r in RejectReason)
        raise InvalidField("reason_code", f"必须是 {allowed} 之一") from exc
    number = await _visible(request, principal)
    await tickets.perform(
        request.app[CONTEXT], number, Reject(reason, body.guidance), principal.actor
    )
    return await _ticket_response(request, principal, number)


class NoteBody(Body):
    note: str = Field(min_length=1, max_length=2000)


@routes.post("/api/v1/tickets/{number}/supervise")
@idempotent
async def supervise(request: web.Request) -> web.Response:
    """督办: raise the ticket's supervision level, with a note to the unit."""
    principal = await require(request, SUPERVISORS)
    body = parse_body(NoteBody, await read_json_object(request))
    number = await _visible(request, principal)
    await tickets.perform(request.app[CONTEXT], number, Supervise(body.note), principal.actor)
    return await _ticket_response(request, principal, number)


class ReasonBody(Body):
    reason: str = Field(min_length=1, max_length=2000)


@routes.post("/api/v1/tickets/{number}/reopen")
@idempotent
async def reopen(request: web.Request) -> web.Response:
    """重办: back to the dispatch queue."""
    principal = await require(request, SUPERVISORS)
    body = parse_body(ReasonBody, await read_json_object(request))
    number = await _visible(request, principal)
    await tickets.perform(request.app[CONTEXT], number, Reopen(body.reason), principal.actor)
    return await _ticket_response(request, principal, number)


class CloseBody(Body):
    note: str | None = Field(default=None, max_length=2000)


@routes.post("/api/v1/tickets/{number}/close")
@idempotent
async def close(request: web.Request) -> web.Response:
    """办结 a replied ticket."""
    principal = await require(request, STAFF)
    body = parse_body(CloseBody, await read_json_object(request))
    number = await _visible(request, principal)
    await tickets.perform(request.app[CONTEXT], number, Close(body.note), principal.actor)
    return await _ticket_response(request, principal, number)


class MergeBody(Body):
    into: str = Field(min_length=1, max_length=32)


@routes.post("/api/v1/tickets/{number}/merge")
@idempotent
async def merge(request: web.Request) -> web.Response:
    """并单: fold this repeat into the open ticket ``into``; its clock is not restarted."""
    principal = await require(request, STAFF)
    body = parse_body(MergeBody, await read_json_object(request))
    number = await _visible(request, principal)
    await tickets.merge(request.app[CONTEXT], number, body.into, principal.actor)
    return await _ticket_response(request, principal, number)


# -- the units (department keys) ---------------------------------------------------------------


@routes.post("/api/v1/tickets/{number}/sign")
@idempotent
async def sign(request: web.Request) -> web.Response:
    """签收."""
    principal = await require(request, DEPARTMENT)
    number = await _visible(request, principal)
    await tickets.perform(
        request.app[CONTEXT], number, Sign(_department(principal)), principal.actor
    )
    return await _ticket_response(request, principal, number)


@routes.post("/api/v1/tickets/{number}/progress")
@idempotent
async def progress(request: web.Request) -> web.Response:
    principal = await require(request, DEPARTMENT)
    body = parse_body(NoteBody, await read_json_object(request))
    number = await _visible(request, principal)
    await tickets.perform(
        request.app[CONTEXT], number, Progress(_department(principal), body.note), principal.actor
    )
    return await _ticket_response(request, principal, number)


class DelegateBody(Body):
    department: str = Field(min_length=1, max_length=64)


@routes.post("/api/v1/tickets/{number}/delegate")
@idempotent
async def delegate(request: web.Request) -> web.Response:
    """分派: a county-level government hands the work to one of its streets or towns."""
    principal = await require(request, DEPARTMENT)
    body = parse_body(DelegateBody, await read_json_object(request))
    number = await _visible(request, principal)
    await dispatching.delegate(
        request.app[CONTEXT], number, _department(principal), body.department, principal.actor
    )
    return await _ticket_response(request, principal, number)


class ReplyBody(Body):
    content: str = Field(min_length=1, max_length=10_000)
    contacted_citizen: bool


@routes.post("/api/v1/tickets/{number}/reply")
@idempotent
async def reply(request: web.Request) -> web.Response:
    """答复: what was done, and whether the citizen was contacted."""
    principal = await require(request, DEPARTMENT)
    body = parse_body(ReplyBody, await read_json_object(request))
    number = await _visible(request, principal)
    await tickets.perform(
        request.app[CONTEXT],
        number,
        Reply(_department(principal), body.content, body.contacted_citizen),
        principal.actor,
    )
    return await _ticket_response(request, principal, number)


@routes.post("/api/v1/tickets/{number}/return")
@idempotent
async def return_ticket(request: web.Request) -> web.Response:
    """退回 within 24 hours of dispatch, with the reason (422 without; 409 after the window)."""
    principal = await require(request, DEPARTMENT)
    body = parse_body(ReasonBody, await read_json_object(request))
    number = await _visible(request, principal)
    request_id, _ = await dispatching.request_return(
        request.app[CONTEXT], number, _department(principal), body.reason, principal.actor
    )
    return json_response({"id": request_id, "status": "pending"})


class ExtensionBody(Body):
    reason: str = Field(min_length=1, max_length=2000)
    approved_by: str = Field(min_length=1, max_length=100)


@routes.post("/api/v1/tickets/{number}/extension")
@idempotent
async def extension(request: web.Request) -> web.Response:
    """延期申请 before the due time, approved by the unit's head; once unless config allows."""
    principal = await require(request, DEPARTMENT)
    body = parse_body(ExtensionBody, await read_json_object(request))
    number = await _visible(request, principal)
    request_id, _ = await dispatching.request_extension(
        request.app[CONTEXT],
        number,
        _department(principal),
        body.reason,
        body.approved_by,
        principal.actor,
    )
    return json_response({"id": request_id, "status": "pending"}, status=201)


class SuspendBody(Body):
    progress: str = Field(min_length=1, max_length=2000)
    measures: str = Field(min_length=1, max_length=2000)
    expected_by: datetime


@routes.post("/api/v1/tickets/{number}/suspend")
@idempotent
async def suspend(request: web.Request) -> web.Response:
    """暂缓: a temporarily unsolvable matter: progress, measures and an expected date."""
    principal = await require(request, DEPARTMENT)
    raw = await read_json_object(request)
    body = parse_body(SuspendBody, _with_datetime(raw, "expected_by"))
    number = await _visible(request, principal)
    await tickets.perform(
        request.app[CONTEXT],
        number,
        Suspend(_department(principal), body.progress, body.measures, body.expected_by),
        principal.actor,
    )
    return await _ticket_response(request, principal, number)


@routes.post("/api/v1/tickets/{number}/resume")
@idempotent
async def resume(request: web.Request) -> web.Response:
    principal = await require(request, (*DEPARTMENT, *SUPERVISORS))
    body = parse_body(CloseBody, await read_json_object(request))
    number = await _visible(request, principal)
    await tickets.perform(request.app[CONTEXT], number, Resume(body.note), principal.actor)
    return await _ticket_response(request, principal, number)


def _with_datetime(raw: dict[str, Any], name: str) -> dict[str, Any]:
    """Parse an ISO 8601 time with its offset (strict mode takes no strings for datetimes)."""
    value = raw.get(name)
    if not isinstance(value, str):
        return raw
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidField(
            name, "必须是带时区的 ISO 8601 时间，如 2026-12-31T18:00:00+08:00"
        ) from exc
    if parsed.tzinfo is None:
        raise InvalidField(name, "必须带时区，如 +08:00")
    return {**raw, name: parsed}


# -- supervisors' decisions --------------------------------------------------------------------


class DecisionBody(Body):
    approve: bool
    note: str | None = Field(default=None, max_length=2000)


class ReturnDecisionBody(DecisionBody):
    department: str | None = Field(default=None, max_length=64)


@routes.post("/api/v1/extensions/{id}/decision")
@idempotent
async def extension_decision(request: web.Request) -> web.Response:
    """Approved: the due time moves by 5 working days and the citizen is told."""
    principal = await require(request, SUPERVISORS)
    body = parse_body(DecisionBody, await read_json_object(request))
    outcome = await dispatching.decide_extension(
        request.app[CONTEXT], request.match_info["id"], body.approve, principal.actor, body.note
    )
    return await _ticket_response(request, principal, outcome.state.number)


@routes.post("/api/v1/returns/{id}/decision")
@idempotent
async def return_decision(request: web.Request) -> web.Response:
    """Approved with a department: re-dispatched there with a fresh clock; refused: back."""
    principal = await require(request, SUPERVISORS)
    body = parse_body(ReturnDecisionBody, await read_json_object(request))
    outcome = await dispatching.decide_return(
        request.app[CONTEXT],
        request.match_info["id"],
        body.approve,
        principal.actor,
        department=body.department,
        note=body.note,
    )
    return await _ticket_response(request, principal, outcome.state.number)
