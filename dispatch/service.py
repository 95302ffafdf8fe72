"""Dispatching a ticket to units with their clocks, and deciding extensions.

The routing engine (which unit?) lives in ``dispatch.routing``; this module turns a decision
into domain actions with deadlines computed by ``dispatch.deadlines``.
"""

from __future__ import annotations

from collections.abc import Sequence

from dispatch.deadlines import assignment_clocks, extended_due
from hotline.domain.errors import InvalidField, NotFound
from hotline.domain.lifecycle import (
    Actor,
    DecideExtension,
    Dispatch,
    NewAssignment,
    TicketState,
)
from hotline.domain.vocabulary import Role
from hotline.services.context import Context
from hotline.services.tickets import Outcome, perform, read_state


async def new_assignments(
    ctx: Context, state: TicketState, lead: str, co_handlers: Sequence[str] = ()
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
) -> Outcome:
    state = await read_state(ctx, number)
    assignments = await new_assignments(ctx, state, lead, co_handlers)
    return await perform(
        ctx, number, Dispatch(assignments, rule=rule), actor, expected_version=state.version
    )


async def decide_extension(
    ctx: Context, number: str, request_id: str, approve: bool, actor: Actor, note: str | None
) -> Outcome:
    state = await read_state(ctx, number)
    pending = state.pending_extension
    if pending is None or pending.id != request_id:
        raise NotFound(f"延期申请 {request_id} 不存在或已处理")
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
