"""The lifecycle service: load a ticket, let the domain decide, store the event and projections.

The ticket row, its assignments and its extension and return requests are projections of the
event history; :func:`save_event` updates them and appends the event in the caller's
transaction, so a change and its history entry are written together or not at all. Concurrent
changes are caught by the ticket's version (optimistic locking) and surface as
:class:`~hotline.domain.errors.Conflict`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from hotline.calendar import to_shanghai
from hotline.domain.errors import Conflict, IllegalTransition, NotFound
from hotline.domain.lifecycle import (
    Action,
    Actor,
    AssignmentState,
    AttachContact,
    Classification,
    Event,
    Merge,
    PendingExtension,
    PendingReturn,
    Suspension,
    TicketState,
    check_invariants,
    decide,
    evolve,
)
from hotline.domain.vocabulary import (
    FINAL_STATUSES,
    AssignmentStatus,
    Role,
    Status,
    TicketType,
    Urgency,
)
from hotline.services.context import Context, FirstLook
from hotline.services.history import append_event, chained_event
from hotline.services.hooks import TicketChange
from hotline.storage.citizens import Contact
from hotline.storage.tickets import Assignment, ExtensionRequest, ReturnRequest, Ticket


@dataclass
class Loaded:
    row: Ticket
    state: TicketState
    extensions: dict[str, ExtensionRequest]
    returns: dict[str, ReturnRequest]


@dataclass(frozen=True)
class Outcome:
    state: TicketState
    event: Event
    ticket_id: int


async def load_for_update(session: AsyncSession, number: str) -> Loaded | None:
    row = (
        await session.scalars(
            select(Ticket).options(selectinload(Ticket.assignments)).where(Ticket.number == number)
        )
    ).one_or_none()
    if row is None:
        return None
    extensions = {
        e.id: e
        for e in await session.scalars(
            select(ExtensionRequest).where(
                ExtensionRequest.ticket_id == row.id, ExtensionRequest.status == "pending"
            )
        )
    }
    returns = {
        r.id: r
        for r in await session.scalars(
            select(ReturnRequest).where(
                ReturnRequest.ticket_id == row.id, ReturnRequest.status == "pending"
            )
        )
    }
    merged_into = None
    if row.merged_into_id is not None:
        merged_into = await session.scalar(
            select(Ticket.number).where(Ticket.id == row.merged_into_id)
        )
    state = state_from_rows(row, extensions.values(), returns.values(), merged_into)
    return Loaded(row, state, extensions, returns)


def state_from_rows(
    row: Ticket,
    extensions: Iterable[ExtensionRequest],
    returns: Iterable[ReturnRequest],
    merged_into: str | None,
) -> TicketState:
    pending_ext = [
        PendingExtension(e.id, e.assignment_id, e.reason, e.approved_by, e.requested_at)
        for e in extensions
    ]
    pending_ret = sorted(
        (
            PendingReturn(
                id=r.id,
                assignment_id=r.assignment_id,
                reason=r.reason,
                requested_at=r.requested_at,
                assignment_status_before=AssignmentStatus(r.assignment_status_before),
                ticket_status_before=Status(r.ticket_status_before),
                needs_arbitration=r.needs_arbitration,
            )
            for r in returns
        ),
        key=lambda r: (r.requested_at, r.id),
    )
    suspension = None
    if row.suspension:
        suspension = Suspension(
            progress=row.suspension["progress"],
            measures=row.suspension["measures"],
            expected_by=datetime.fromisoformat(row.suspension["expected_by"]),
            since=datetime.fromisoformat(row.suspension["since"]),
        )
    return TicketState(
        number=row.number,
        status=Status(row.status),
        version=row.version,
        classification=Classification(
            type=TicketType(row.type) if row.type else None,
            category=row.category_code,
            division=row.division_code,
            street=row.street_code,
            urgency=Urgency(row.urgency),
            confidential=row.confidential,
        ),
        assignments=tuple(
            sorted((_assignment_state(a) for a in row.assignments), key=_assignment_order)
        ),
        pending_extension=pending_ext[0] if pending_ext else None,
        pending_returns=tuple(pending_ret),
        suspension=suspension,
        supervision_level=row.supervision_level,
        repeat_count=row.repeat_count,
        reopen_count=row.reopen_count,
        returns_approved=row.returns_approved,
        merged_into=merged_into,
    )


def _assignment_order(a: AssignmentState) -> tuple[datetime, str]:
    return (a.dispatched_at, a.id)


def _assignment_state(a: Assignment) -> AssignmentState:
    return AssignmentState(
        id=a.id,
        department=a.department_code,
        role=Role(a.role),
        status=AssignmentStatus(a.status),
        dispatched_at=a.dispatched_at,
        sign_due_at=a.sign_due_at,
        return_due_at=a.return_due_at,
        due_at=a.due_at,
        signed_at=a.signed_at,
        replied_at=a.replied_at,
        extensions_granted=a.extensions_granted,
    )


async def save_event(
    ctx: Context, session: AsyncSession, loaded: Loaded, event: Event
) -> TicketState:
    """Apply ``event`` to the loaded ticket's projections and append it to the history."""
    state = evolve(loaded.state, event)
    check_invariants(state)
    row = loaded.row
    c = state.classification
    row.status = state.status.value
    row.type = c.type.value if c.type else None
    row.category_code = c.category
    row.division_code = c.division
    row.street_code = c.street
    row.urgency = c.urgency.value
    row.confidential = c.confidential
    row.supervision_level = state.supervision_level
    row.repeat_count = state.repeat_count
    row.reopen_count = state.reopen_count
    row.returns_approved = state.returns_approved
    row.due_at = state.due_at
    row.suspension = (
        {
            "progress": state.suspension.progress,
            "measures": state.suspension.measures,
            "expected_by": to_shanghai(state.suspension.expected_by).isoformat(),
            "since": to_shanghai(state.suspension.since).isoformat(),
        }
        if state.suspension
        else None
    )
    if state.status in FINAL_STATUSES:
        row.closed_at = row.closed_at or event.at
    else:
        row.closed_at = None
    if event.action == "merged":
        row.merged_into_id = await session.scalar(
            select(Ticket.id).where(Ticket.number == event.data["into"])
        )
        if row.merged_into_id is None:
            raise NotFound(f"工单 {event.data['into']} 不存在，不能并入")
    row.updated_at = event.at
    row.version = state.version
    values = chained_event(row.history_hash, row.number, state.version, event)
    row.history_hash = values["hash"]
    _sync_assignments(row, state, event, ctx.first_look)
    _sync_requests(session, loaded, state, event)
    try:
        await session.flush()
    except StaleDataError as exc:
        raise Conflict(
            f"工单 {state.number} 已被他人修改，请刷新后重试", code="version_conflict"
        ) from exc
    await append_event(session, row.id, values)
    change = TicketChange(ticket=row, state=state, event=event)
    for hook in ctx.hooks.on_event:
        await hook(session, change)
    return state


def _sync_assignments(
    row: Ticket, state: TicketState, event: Event, first_look: FirstLook | None
) -> None:
    existing = {a.id: a for a in row.assignments}
    for a in state.assignments:
        target = existing.get(a.id)
        if target is None:
            target = Assignment(
                id=a.id,
                ticket_id=row.id,
                department_code=a.department,
                role=a.role.value,
                dispatched_at=a.dispatched_at,
                sign_due_at=a.sign_due_at,
                return_due_at=a.return_due_at,
                due_at=a.due_at,
                extensions_granted=0,
                status=a.status.value,
            )
            row.assignments.append(target)
        if first_look is not None and (
            target.status != a.status.value or target.due_at != a.due_at or a.id not in existing
        ):
            # the clock changed: the scheduler takes a fresh look at it
            target.next_notice_at = first_look(a)
        target.status = a.status.value
        target.due_at = a.due_at
        target.signed_at = a.signed_at
        target.replied_at = a.replied_at
        target.extensions_granted = a.extensions_granted
    if event.action == "replied":
        replied = existing[event.data["assignment"]]
        replied.reply_content = event.note
        replied.contacted_citizen = bool(event.data.get("contacted_citizen"))


def _sync_requests(session: AsyncSession, loaded: Loaded, state: TicketState, event: Event) -> None:
    row = loaded.row
    who = event.actor.label
    if event.action == "extension_requested":
        assignment = state.assignment(event.data["assignment"])
        session.add(
            ExtensionRequest(
                id=event.data["id"],
                ticket_id=row.id,
                assignment_id=assignment.id,
                reason=event.note or "",
                approved_by=event.data["approved_by"],
                requested_at=event.at,
                status="pending",
                old_due_at=assignment.due_at,
            )
        )
    elif event.action == "extension_decided":
        ext = loaded.extensions[event.data["id"]]
        ext.status = "approved" if event.data["approve"] else "rejected"
        ext.decided_at = event.at
        ext.decided_by = who
        ext.note = event.note
        if event.data.get("new_due_at"):
            ext.new_due_at = datetime.fromisoformat(event.data["new_due_at"])
    elif event.action == "return_requested":
        assignment = state.assignment(event.data["assignment"])
        pending = next(r for r in state.pending_returns if r.id == event.data["id"])
        session.add(
            ReturnRequest(
                id=pending.id,
                ticket_id=row.id,
                assignment_id=assignment.id,
                department_code=assignment.department,
                reason=pending.reason,
                requested_at=event.at,
                status="pending",
                assignment_status_before=pending.assignment_status_before.value,
                ticket_status_before=pending.ticket_status_before.value,
                needs_arbitration=pending.needs_arbitration,
            )
        )
    elif event.action == "return_decided":
        ret = loaded.returns[event.data["id"]]
        ret.status = "approved" if event.data["approve"] else "rejected"
        ret.decided_at = event.at
        ret.decided_by = who
        ret.note = event.note
    # Requests that an event made moot (a reply, a reopening) are closed with it.
    if state.pending_extension is None:
        for ext in loaded.extensions.values():
            if ext.status == "pending":
                ext.status = "withdrawn"
                ext.decided_at = event.at
    pending_ids = {r.id for r in state.pending_returns}
    for ret in loaded.returns.values():
        if ret.status == "pending" and ret.id not in pending_ids:
            ret.status = "withdrawn"
            ret.decided_at = event.at


async def read_state(ctx: Context, number: str) -> TicketState:
    """The ticket's current state (read-only; actions go through :func:`perform`)."""
    async with ctx.db.reads() as session:
        loaded = await load_for_update(session, number)
    if loaded is None:
        raise NotFound(f"工单 {number} 不存在")
    return loaded.state


async def perform(
    ctx: Context,
    number: str,
    action: Action,
    actor: Actor,
    *,
    expected_version: int | None = None,
) -> Outcome:
    """Do one lifecycle action on a ticket in its own transaction."""
    async with ctx.db.sessions() as session, session.begin():
        return await perform_in(
            ctx, session, number, action, actor, expected_version=expected_version
        )


async def perform_in(
    ctx: Context,
    session: AsyncSession,
    number: str,
    action: Action,
    actor: Actor,
    *,
    expected_version: int | None = None,
) -> Outcome:
    """The same, inside the caller's transaction (for work that must commit with it)."""
    loaded = await load_for_update(session, number)
    if loaded is None:
        raise NotFound(f"工单 {number} 不存在")
    if expected_version is not None and expected_version != loaded.state.version:
        raise Conflict(
            f"工单 {number} 已被他人修改(版本 {loaded.state.version})，请刷新后重试",
            code="version_conflict",
        )
    event = decide(loaded.state, action, actor, ctx.clock.now())
    state = await save_event(ctx, session, loaded, event)
    return Outcome(state, event, loaded.row.id)


async def merge(ctx: Context, number: str, into: str, actor: Actor) -> Outcome:
    """并单: fold ``number`` into the open ticket ``into``; its clock is not restarted."""
    now = ctx.clock.now()
    async with ctx.db.sessions() as session, session.begin():
        source = await load_for_update(session, number)
        target = await load_for_update(session, into)
        if source is None:
            raise NotFound(f"工单 {number} 不存在")
        if target is None:
            raise NotFound(f"工单 {into} 不存在")
        if target.state.status in FINAL_STATUSES:
            raise IllegalTransition(f"工单 {into} 已结束，不能并入")
        event = decide(source.state, Merge(into), actor, now)
        attach = decide(
            target.state,
            AttachContact(None, source.row.origin_channel, merged_from=number),
            actor,
            now,
        )
        state = await save_event(ctx, session, source, event)
        await save_event(ctx, session, target, attach)
        await session.execute(
            update(Contact)
            .where(Contact.ticket_id == source.row.id)
            .values(ticket_id=target.row.id)
        )
        return Outcome(state, event, source.row.id)
