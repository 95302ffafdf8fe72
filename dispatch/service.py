"""Dispatching a ticket to units with their clocks, and deciding extensions.

The routing engine (which unit?) lives in ``dispatch.routing``; this module turns a decision
into domain actions with deadlines computed by ``dispatch.deadlines``.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from dispatch.deadlines import assignment_clocks, extended_due
from dispatch.routing import Decision
from hotline.config import TimeLimit
from hotline.domain.errors import Conflict, IllegalTransition, InvalidField, NotFound
from hotline.domain.lifecycle import (
    Actor,
    DecideExtension,
    DecideReturn,
    Delegate,
    Dispatch,
    NewAssignment,
    RequestExtension,
    RequestReturn,
    TicketState,
)
from hotline.domain.vocabulary import Role
from hotline.services.context import Context
from hotline.services.tickets import Outcome, perform, read_state
from hotline.storage.tickets import ExtensionRequest, ReturnRequest, Ticket


async def new_assignments(
    ctx: Context,
    state: TicketState,
    lead: str,
    co_handlers: Sequence[str] = (),
    *,
    limit: TimeLimit | None = None,
) -> tuple[NewAssignment, ...]:
    """Assignments for ``lead`` and ``co_handlers`` with clocks starting now."""
    ref = await ctx.reference.get()
    for code, name in [(lead, "department"), *((c, "co_handlers") for c in co_handlers)]:
        dept = ref.departments.get(code)
        if dept is None or not dept.active:
            raise InvalidField(name, f"未知或已停用的承办单位: {code}")
    now = ctx.clock.now()
    c = state.classification
    clocks = assignment_clocks(
        ctx.calendar,
        ctx.config.time_limits,
        now,
        type_=c.type,
        category=c.category,
        urgency=c.urgency,
        limit=limit,
    )
    return tuple(
        NewAssignment(
            id=ctx.ids(),
            department=code,
            role=Role.LEAD if code == lead else Role.CO,
            dispatched_at=now,
            sign_due_at=clocks.sign_due_at,
            return_due_at=clocks.return_due_at,
            due_at=clocks.due_at,
        )
        for code in [lead, *co_handlers]
    )


async def dispatch_to(
    ctx: Context,
    number: str,
    lead: str,
    actor: Actor,
    co_handlers: Sequence[str] = (),
    *,
    rule: str | None = None,
    limit: TimeLimit | None = None,
    expected_version: int | None = None,
) -> Outcome:
    """Dispatch with clocks starting now; ``limit`` overrides the policy (a rectification).
    ``expected_version``: the version the caller saw (a 409 if the ticket changed since)."""
    state = await read_state(ctx, number)
    if expected_version is not None and expected_version != state.version:
        raise Conflict(
            f"工单 {number} 已被他人修改(版本 {state.version})，请刷新后重试",
            code="version_conflict",
        )
    assignments = await new_assignments(ctx, state, lead, co_handlers, limit=limit)
    return await perform(
        ctx, number, Dispatch(assignments, rule=rule), actor, expected_version=state.version
    )


async def request_extension(
    ctx: Context, number: str, department: str, reason: str, approved_by: str, actor: Actor
) -> tuple[str, Outcome]:
    """延期申请 before the due time, at most ``time_limits.max_extensions`` times."""
    request_id = ctx.ids()
    action = RequestExtension(
        request_id,
        department,
        reason,
        approved_by,
        max_extensions=ctx.config.time_limits.max_extensions,
    )
    return request_id, await perform(ctx, number, action, actor)


async def request_return(
    ctx: Context, number: str, department: str, reason: str, actor: Actor
) -> tuple[str, Outcome]:
    """退回 within the return window, with a reason; the centre reviews it."""
    request_id = ctx.ids()
    return request_id, await perform(
        ctx, number, RequestReturn(request_id, department, reason), actor
    )


async def ticket_of_request(
    ctx: Context, model: type[ExtensionRequest] | type[ReturnRequest], request_id: str
) -> str:
    async with ctx.db.sessions() as session:
        number = await session.scalar(
            select(Ticket.number)
            .join(model, model.ticket_id == Ticket.id)
            .where(model.id == request_id)
        )
    if number is None:
        kind = "延期申请" if model is ExtensionRequest else "退回申请"
        raise NotFound(f"{kind} {request_id} 不存在")
    return number


async def decide_return(
    ctx: Context,
    request_id: str,
    approve: bool,
    actor: Actor,
    *,
    department: str | None = None,
    note: str | None = None,
) -> Outcome:
    """Review a return. Approved with a ``department``: re-dispatched there with a fresh
    clock; approved without one: back to the dispatch queue; refused: back to the unit."""
    number = await ticket_of_request(ctx, ReturnRequest, request_id)
    state = await read_state(ctx, number)
    redispatch: tuple[NewAssignment, ...] = ()
    if approve and department is not None:
        redispatch = await new_assignments(ctx, state, department)
    elif not approve and department is not None:
        raise InvalidField("department", "驳回退回时不能指定新的承办单位")
    return await perform(
        ctx,
        number,
        DecideReturn(request_id, approve, note, redispatch),
        actor,
        expected_version=state.version,
    )


async def decide_extension(
    ctx: Context, request_id: str, approve: bool, actor: Actor, note: str | None
) -> Outcome:
    """Approve (the due time moves by N working days) or refuse an extension request."""
    number = await ticket_of_request(ctx, ExtensionRequest, request_id)
    state = await read_state(ctx, number)
    pending = state.pending_extension
    if pending is None or pending.id != request_id:
        raise IllegalTransition(f"延期申请 {request_id} 已处理", code="already_decided")
    new_due = None
    if approve:
        current = state.assignment(pending.assignment_id).due_at
        new_due = extended_due(ctx.calendar, ctx.config.time_limits, current)
    return await perform(
        ctx,
        number,
        DecideExtension(request_id, approve, new_due, note),
        actor,
        expected_version=state.version,
    )


def rule_label(decision: Decision) -> str:
    """What the history records of a routing decision: rule, catalogue version, confidence."""
    rule = decision.rule.id if decision.rule is not None else "none"
    return f"{rule}@{decision.catalogue_version} ({decision.confidence:.2f})"


async def delegate(ctx: Context, number: str, county: str, street: str, actor: Actor) -> Outcome:
    """分派: a county-level government hands a ticket to one of its streets or towns.

    Only its own streets and towns, only for categories that may be pushed down, and the
    street's share ends by the county's own due time (the county stays answerable).
    """
    ref = await ctx.reference.get()
    target = ref.departments.get(street)
    if target is None or not target.active or target.level != "street":
        raise InvalidField("department", f"未知的街道(乡镇): {street}")
    if target.parent_code != county:
        raise InvalidField("department", f"{street} 不属于 {county}")
    state = await read_state(ctx, number)
    category = ref.categories.get(state.classification.category or "")
    if category is not None and not category.push_down:
        raise IllegalTransition(
            f"“{category.name}”类工单不下派至街道(乡镇)", code="not_pushed_down"
        )
    lead = state.lead
    if lead is None or lead.department != county:
        raise IllegalTransition(f"工单 {number} 当前不由 {county} 主办", code="not_lead")
    now = ctx.clock.now()
    clocks = assignment_clocks(
        ctx.calendar,
        ctx.config.time_limits,
        now,
        type_=state.classification.type,
        category=state.classification.category,
        urgency=state.classification.urgency,
    )
    share = NewAssignment(
        id=ctx.ids(),
        department=street,
        role=Role.CO,
        dispatched_at=now,
        sign_due_at=clocks.sign_due_at,
        return_due_at=clocks.return_due_at,
        due_at=min(lead.due_at, clocks.due_at),
    )
    return await perform(
        ctx, number, Delegate(county, share), actor, expected_version=state.version
    )
