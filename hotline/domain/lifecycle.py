"""The 工单 lifecycle as a pure state machine.

Two functions carry every rule:

* ``decide(state, action, actor, now)`` checks an action against the current state and returns
  the :class:`Event` it causes, or raises :class:`IllegalTransition` / :class:`InvalidField`;
* ``evolve(state, event)`` applies an event and returns the new state.

An event carries everything ``evolve`` needs (times, due dates, ids), so replaying a ticket's
stored history with :func:`replay` rebuilds its state without a calendar or a database. Nothing
here does I/O or reads a clock: the caller passes ``now`` and any computed deadlines.

The centre's flow (条例第四十九条): received → answered directly | rejected with guidance |
transferred to 110/119/120 | merged into another ticket | awaiting dispatch → dispatched →
signed → in progress → replied → awaiting callback → closed. A unit may return a ticket that is
not its duty within the return window, ask once for an extension before its due time, or
suspend a temporarily unsolvable matter with progress, measures and an expected date
(第五十条). Reopening (重办) and supervision (督办) are the centre's levers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from hotline.calendar import to_shanghai
from hotline.domain.errors import IllegalTransition, InvalidField
from hotline.domain.vocabulary import (
    AT_CENTRE,
    FINAL_STATUSES,
    WITH_DEPARTMENT,
    ActorKind,
    AssignmentStatus,
    EmergencyService,
    RejectReason,
    Role,
    Status,
    TicketType,
    Urgency,
)

JSON = dict[str, Any]


# --------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    id: str
    department: str | None = None

    @property
    def label(self) -> str:
        return f"{self.kind.value}:{self.id}"


SYSTEM = Actor(ActorKind.SYSTEM, "hotline")


@dataclass(frozen=True)
class AssignmentState:
    id: str
    department: str
    role: Role
    status: AssignmentStatus
    dispatched_at: datetime
    sign_due_at: datetime
    return_due_at: datetime
    due_at: datetime
    signed_at: datetime | None = None
    replied_at: datetime | None = None
    extensions_granted: int = 0

    @property
    def is_active(self) -> bool:
        return self.status.is_active


@dataclass(frozen=True)
class PendingExtension:
    id: str
    assignment_id: str
    reason: str
    approved_by: str
    requested_at: datetime


@dataclass(frozen=True)
class PendingReturn:
    id: str
    assignment_id: str
    reason: str
    requested_at: datetime
    #: where the assignment (and, for the lead, the ticket) goes back to if the return is refused
    assignment_status_before: AssignmentStatus
    ticket_status_before: Status
    #: an earlier return of this ticket was already approved: a supervisor arbitrates this one
    needs_arbitration: bool = False


@dataclass(frozen=True)
class Suspension:
    progress: str
    measures: str
    expected_by: datetime
    since: datetime


@dataclass(frozen=True)
class Classification:
    """What the centre decides about a matter; amendable until it is final."""

    type: TicketType | None = None
    category: str | None = None
    division: str | None = None
    street: str | None = None
    urgency: Urgency = Urgency.NORMAL
    confidential: bool = False


@dataclass(frozen=True)
class TicketState:
    number: str
    status: Status
    version: int
    classification: Classification
    assignments: tuple[AssignmentState, ...] = ()
    pending_extension: PendingExtension | None = None
    pending_returns: tuple[PendingReturn, ...] = ()
    suspension: Suspension | None = None
    supervision_level: int = 0
    repeat_count: int = 0
    reopen_count: int = 0
    returns_approved: int = 0
    merged_into: str | None = None

    # -- queries ---------------------------------------------------------------------------

    @property
    def lead(self) -> AssignmentState | None:
        """The active lead assignment, if a unit holds the ticket."""
        for a in self.assignments:
            if a.role is Role.LEAD and a.is_active:
                return a
        return None

    @property
    def active_assignments(self) -> tuple[AssignmentState, ...]:
        return tuple(a for a in self.assignments if a.is_active)

    @property
    def due_at(self) -> datetime | None:
        lead = self.lead
        return lead.due_at if lead else None

    def assignment(self, assignment_id: str) -> AssignmentState:
        for a in self.assignments:
            if a.id == assignment_id:
                return a
        raise IllegalTransition(f"工单 {self.number} 没有派单记录 {assignment_id}")

    def active_assignment_of(self, department: str) -> AssignmentState:
        for a in self.assignments:
            if a.department == department and a.is_active:
                return a
        raise IllegalTransition(
            f"工单 {self.number} 当前未派给单位 {department}", code="not_assigned"
        )

    def pending_return(self, return_id: str) -> PendingReturn:
        for r in self.pending_returns:
            if r.id == return_id:
                return r
        raise IllegalTransition(f"工单 {self.number} 没有待审核的退回申请 {return_id}")


# --------------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One entry of a ticket's append-only history. ``data`` is JSON-ready."""

    action: str
    at: datetime
    actor: Actor
    status_before: Status | None
    status_after: Status
    note: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Actions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewAssignment:
    """An assignment to create; the caller computed its clocks (``dispatch.deadlines``)."""

    id: str
    department: str
    role: Role
    dispatched_at: datetime
    sign_due_at: datetime
    return_due_at: datetime
    due_at: datetime


@dataclass(frozen=True)
class Triage:
    """Put a received ticket in the dispatch queue (待派单)."""

    reason: str | None = None


@dataclass(frozen=True)
class AnswerDirectly:
    """直接答复 (第四十九条第一项)."""

    answer: str
    kb_article: str | None = None


@dataclass(frozen=True)
class Reject:
    """不予受理 with the way to go (第四十九条第三项)."""

    reason_code: RejectReason
    guidance: str


@dataclass(frozen=True)
class TransferEmergency:
    """一键转接 to 110/119/120 (第四十六条第二款)."""

    target: EmergencyService
    result: str | None = None


@dataclass(frozen=True)
class Merge:
    """并单: this ticket repeats an open one and is folded into it."""

    into: str


@dataclass(frozen=True)
class Dispatch:
    assignments: tuple[NewAssignment, ...]
    rule: str | None = None


@dataclass(frozen=True)
class Delegate:
    """分派: the county-level government holding the ticket hands the work to one of its
    streets or towns, which joins as a co-handler; the county stays answerable for it."""

    department: str
    assignment: NewAssignment


@dataclass(frozen=True)
class Sign:
    department: str


@dataclass(frozen=True)
class Progress:
    department: str
    note: str


@dataclass(frozen=True)
class RequestReturn:
    id: str
    department: str
    reason: str


@dataclass(frozen=True)
class DecideReturn:
    id: str
    approve: bool
    note: str | None = None
    #: on approval, hand the ticket straight to other units with fresh clocks
    redispatch: tuple[NewAssignment, ...] = ()


@dataclass(frozen=True)
class RequestExtension:
    id: str
    department: str
    reason: str
    approved_by: str
    max_extensions: int = 1


@dataclass(frozen=True)
class DecideExtension:
    id: str
    approve: bool
    new_due_at: datetime | None = None
    note: str | None = None


@dataclass(frozen=True)
class Suspend:
    department: str
    progress: str
    measures: str
    expected_by: datetime


@dataclass(frozen=True)
class Resume:
    note: str | None = None


@dataclass(frozen=True)
class Reply:
    department: str
    content: str
    contacted_citizen: bool


@dataclass(frozen=True)
class StartCallback:
    note: str | None = None


@dataclass(frozen=True)
class Close:
    note: str | None = None


@dataclass(frozen=True)
class Reopen:
    reason: str


@dataclass(frozen=True)
class Supervise:
    note: str


@dataclass(frozen=True)
class AttachContact:
    """A repeat contact about this matter: a follow-up message, or a duplicate merged in."""

    contact_id: str | None
    channel: str
    merged_from: str | None = None


@dataclass(frozen=True)
class Annotate:
    """A fact for the record that changes nothing else: a transfer attempt and its result, a
    call recording, a contact with the citizen. Allowed in every status."""

    note: str
    kind: str = "note"
    details: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Amend:
    """Change the classification while the ticket is open. ``None`` leaves a field alone."""

    type: TicketType | None = None
    category: str | None = None
    division: str | None = None
    street: str | None = None
    urgency: Urgency | None = None
    confidential: bool | None = None


Action = (
    Triage
    | AnswerDirectly
    | Reject
    | TransferEmergency
    | Merge
    | Dispatch
    | Delegate
    | Sign
    | Progress
    | RequestReturn
    | DecideReturn
    | RequestExtension
    | DecideExtension
    | Suspend
    | Resume
    | Reply
    | StartCallback
    | Close
    | Reopen
    | Supervise
    | AttachContact
    | Annotate
    | Amend
)

#: Action name → statuses the ticket may be in. The decide functions add the finer guards.
ALLOWED_FROM: dict[str, frozenset[Status]] = {
    "triaged": frozenset({Status.RECEIVED}),
    "answered": AT_CENTRE,
    "rejected": AT_CENTRE,
    "transferred": AT_CENTRE,
    "merged": AT_CENTRE,
    "dispatched": AT_CENTRE,
    "signed": frozenset({Status.DISPATCHED, Status.SIGNED, Status.IN_PROGRESS, Status.SUSPENDED}),
    "delegated": frozenset({Status.SIGNED, Status.IN_PROGRESS}),
    "progress": frozenset({Status.DISPATCHED, Status.SIGNED, Status.IN_PROGRESS, Status.SUSPENDED}),
    "return_requested": frozenset({Status.DISPATCHED, Status.SIGNED, Status.IN_PROGRESS}),
    "return_decided": frozenset(WITH_DEPARTMENT),
    "extension_requested": frozenset({Status.SIGNED, Status.IN_PROGRESS, Status.SUSPENDED}),
    "extension_decided": frozenset({Status.SIGNED, Status.IN_PROGRESS, Status.SUSPENDED}),
    "suspended": frozenset({Status.SIGNED, Status.IN_PROGRESS}),
    "resumed": frozenset({Status.SUSPENDED}),
    "replied": frozenset({Status.DISPATCHED, Status.SIGNED, Status.IN_PROGRESS, Status.SUSPENDED}),
    "callback_started": frozenset({Status.REPLIED}),
    "closed": frozenset({Status.REPLIED, Status.AWAITING_CALLBACK}),
    "reopened": frozenset(
        {Status.ANSWERED, Status.REPLIED, Status.AWAITING_CALLBACK, Status.CLOSED}
    ),
    "supervised": frozenset(WITH_DEPARTMENT | {Status.REPLIED, Status.AWAITING_DISPATCH}),
    "contact_attached": frozenset(Status) - FINAL_STATUSES,
    "amended": frozenset(Status) - FINAL_STATUSES,
    "noted": frozenset(Status),
}

ACTION_NAMES: dict[type, str] = {
    Triage: "triaged",
    AnswerDirectly: "answered",
    Reject: "rejected",
    TransferEmergency: "transferred",
    Merge: "merged",
    Dispatch: "dispatched",
    Delegate: "delegated",
    Sign: "signed",
    Progress: "progress",
    RequestReturn: "return_requested",
    DecideReturn: "return_decided",
    RequestExtension: "extension_requested",
    DecideExtension: "extension_decided",
    Suspend: "suspended",
    Resume: "resumed",
    Reply: "replied",
    StartCallback: "callback_started",
    Close: "closed",
    Reopen: "reopened",
    Supervise: "supervised",
    AttachContact: "contact_attached",
    Annotate: "noted",
    Amend: "amended",
}

ACTION_LABELS: dict[str, str] = {
    "received": "受理",
    "triaged": "转待派单",
    "answered": "直接答复",
    "rejected": "不予受理",
    "transferred": "转接紧急热线",
    "merged": "并单",
    "dispatched": "派单",
    "delegated": "分派",
    "signed": "签收",
    "progress": "办理进展",
    "return_requested": "申请退回",
    "return_decided": "退回审核",
    "extension_requested": "申请延期",
    "extension_decided": "延期审批",
    "suspended": "暂缓办理",
    "resumed": "恢复办理",
    "replied": "答复",
    "callback_started": "转回访",
    "closed": "办结",
    "reopened": "重办",
    "supervised": "督办",
    "contact_attached": "重复来电(来信)",
    "amended": "修改工单",
    "noted": "记录",
}


# --------------------------------------------------------------------------------------------
# Opening a ticket
# --------------------------------------------------------------------------------------------


def open_ticket(
    number: str, classification: Classification, actor: Actor, now: datetime
) -> tuple[TicketState, Event]:
    """The first event of every ticket: 受理."""
    event = opening_event(number, classification, actor, now)
    return evolve(None, event), event


def opening_event(
    number: str,
    classification: Classification,
    actor: Actor,
    now: datetime,
    *,
    note: str | None = None,
    **data: Any,
) -> Event:
    """:func:`open_ticket`'s event alone (the intake writes tickets without their state), with
    a ``note`` and further JSON-ready ``data`` (the channel) if given."""
    _require_aware(now, "now")
    return Event(
        action="received",
        at=now,
        actor=actor,
        status_before=None,
        status_after=Status.RECEIVED,
        note=note,
        data={"number": number, "classification": _classification_json(classification), **data},
    )


# --------------------------------------------------------------------------------------------
# decide
# --------------------------------------------------------------------------------------------


def decide(state: TicketState, action: Action, actor: Actor, now: datetime) -> Event:
    """Check ``action`` against ``state``; return the event it causes."""
    _require_aware(now, "now")
    name = ACTION_NAMES[type(action)]
    if state.status not in ALLOWED_FROM[name]:
        raise IllegalTransition(
            f"工单 {state.number} 处于“{state.status.label}”状态，不能{ACTION_LABELS[name]}",
        )
    decider = _DECIDERS[type(action)]
    after, note, data = decider(state, action, actor, now)
    return Event(
        action=name,
        at=now,
        actor=actor,
        status_before=state.status,
        status_after=after,
        note=note,
        data=data,
    )


def _text(value: str, field_name: str) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidField(field_name, "不能为空")
    return text


def _d_triage(s: TicketState, a: Triage, actor: Actor, now: datetime) -> _Decision:
    return Status.AWAITING_DISPATCH, a.reason, {}


def _d_answer(s: TicketState, a: AnswerDirectly, actor: Actor, now: datetime) -> _Decision:
    return (
        Status.ANSWERED,
        _text(a.answer, "answer"),
        {"kb_article": a.kb_article},
    )


def _d_reject(s: TicketState, a: Reject, actor: Actor, now: datetime) -> _Decision:
    return (
        Status.REJECTED,
        _text(a.guidance, "guidance"),
        {"reason_code": RejectReason(a.reason_code).value},
    )


def _d_transfer(s: TicketState, a: TransferEmergency, actor: Actor, now: datetime) -> _Decision:
    return Status.TRANSFERRED, a.result, {"target": EmergencyService(a.target).value}


def _d_merge(s: TicketState, a: Merge, actor: Actor, now: datetime) -> _Decision:
    into = _text(a.into, "into")
    if into == s.number:
        raise InvalidField("into", "工单不能并入自身")
    return Status.MERGED, f"并入 {into}", {"into": into}


def _check_new_assignments(items: Sequence[NewAssignment], field_name: str) -> None:
    if not items:
        raise InvalidField(field_name, "至少需要一个承办单位")
    leads = [a for a in items if a.role is Role.LEAD]
    if len(leads) != 1:
        raise InvalidField(field_name, "必须且只能有一个主办单位")
    departments = [a.department for a in items]
    if len(set(departments)) != len(departments):
        raise InvalidField(field_name, "同一单位不能重复派单")
    for a in items:
        _text(a.department, f"{field_name}.department")
        for attr in ("dispatched_at", "sign_due_at", "return_due_at", "due_at"):
            _require_aware(getattr(a, attr), f"{field_name}.{attr}")
        if not a.dispatched_at < a.due_at:
            raise InvalidField(f"{field_name}.due_at", "办理时限必须晚于派单时间")


def _d_dispatch(s: TicketState, a: Dispatch, actor: Actor, now: datetime) -> _Decision:
    _check_new_assignments(a.assignments, "assignments")
    lead = next(x for x in a.assignments if x.role is Role.LEAD)
    return (
        Status.DISPATCHED,
        f"派至 {lead.department}",
        {"assignments": [_new_assignment_json(x) for x in a.assignments], "rule": a.rule},
    )


def _d_delegate(s: TicketState, a: Delegate, actor: Actor, now: datetime) -> _Decision:
    lead = _lead_of(s, a.department)
    new = a.assignment
    _check_new_assignments((replace(new, role=Role.LEAD),), "assignment")
    if new.role is not Role.CO:
        raise InvalidField("assignment", "分派的街道(乡镇)作为协办单位")
    if any(x.department == new.department for x in s.active_assignments):
        raise InvalidField("department", f"{new.department} 已在办理此工单")
    return (
        s.status,
        f"{lead.department} 分派至 {new.department}",
        {"assignments": [_new_assignment_json(new)], "by": lead.department},
    )


def _d_sign(s: TicketState, a: Sign, actor: Actor, now: datetime) -> _Decision:
    asg = s.active_assignment_of(a.department)
    if asg.status is not AssignmentStatus.DISPATCHED:
        raise IllegalTransition(f"单位 {a.department} 已签收工单 {s.number}", code="already_signed")
    after = Status.SIGNED if asg.role is Role.LEAD else s.status
    return after, None, {"assignment": asg.id}


def _d_progress(s: TicketState, a: Progress, actor: Actor, now: datetime) -> _Decision:
    asg = s.active_assignment_of(a.department)
    if asg.status not in (
        AssignmentStatus.SIGNED,
        AssignmentStatus.IN_PROGRESS,
        AssignmentStatus.SUSPENDED,
    ):
        raise IllegalTransition(f"单位 {a.department} 须先签收工单 {s.number}", code="not_signed")
    after = s.status
    if asg.role is Role.LEAD and s.status is not Status.SUSPENDED:
        after = Status.IN_PROGRESS
    return after, _text(a.note, "note"), {"assignment": asg.id}


def _d_request_return(s: TicketState, a: RequestReturn, actor: Actor, now: datetime) -> _Decision:
    asg = s.active_assignment_of(a.department)
    reason = _text(a.reason, "reason")
    if asg.status in (AssignmentStatus.RETURN_PENDING, AssignmentStatus.SUSPENDED):
        raise IllegalTransition(f"工单 {s.number} 当前不能退回")
    if now > asg.return_due_at:
        raise IllegalTransition(
            f"工单 {s.number} 已超过退回时限(派单后24小时内)", code="return_window_passed"
        )
    if asg.role is Role.LEAD and s.pending_extension is not None:
        raise IllegalTransition(f"工单 {s.number} 有待审批的延期申请，不能退回")
    after = Status.RETURNED if asg.role is Role.LEAD else s.status
    return (
        after,
        reason,
        {
            "id": a.id,
            "assignment": asg.id,
            "assignment_status_before": asg.status.value,
            "needs_arbitration": s.returns_approved > 0,
        },
    )


def _d_decide_return(s: TicketState, a: DecideReturn, actor: Actor, now: datetime) -> _Decision:
    pending = s.pending_return(a.id)
    asg = s.assignment(pending.assignment_id)
    if a.approve and asg.role is Role.LEAD:
        if a.redispatch:
            _check_new_assignments(a.redispatch, "redispatch")
            if any(x.department == asg.department for x in a.redispatch):
                raise InvalidField("department", "退回审核通过后不能再派给原单位")
            after = Status.DISPATCHED
        else:
            after = Status.AWAITING_DISPATCH
    elif a.approve:
        if a.redispatch:
            raise InvalidField("department", "协办单位退回无需重新派单")
        after = s.status
    else:
        after = pending.ticket_status_before if asg.role is Role.LEAD else s.status
    return (
        after,
        a.note,
        {
            "id": a.id,
            "approve": a.approve,
            "redispatch": [_new_assignment_json(x) for x in a.redispatch],
        },
    )


def _d_request_extension(
    s: TicketState, a: RequestExtension, actor: Actor, now: datetime
) -> _Decision:
    asg = s.active_assignment_of(a.department)
    if asg.role is not Role.LEAD:
        raise IllegalTransition("只有主办单位可以申请延期", code="not_lead")
    if s.pending_extension is not None:
        raise IllegalTransition(f"工单 {s.number} 已有待审批的延期申请")
    if asg.extensions_granted >= a.max_extensions:
        raise IllegalTransition(
            f"工单 {s.number} 已延期 {asg.extensions_granted} 次，不能再延期",
            code="extension_limit",
        )
    if now >= asg.due_at:
        raise IllegalTransition(f"工单 {s.number} 已超过办理时限，不能申请延期", code="overdue")
    return (
        s.status,
        _text(a.reason, "reason"),
        {"id": a.id, "assignment": asg.id, "approved_by": _text(a.approved_by, "approved_by")},
    )


def _d_decide_extension(
    s: TicketState, a: DecideExtension, actor: Actor, now: datetime
) -> _Decision:
    pending = s.pending_extension
    if pending is None or pending.id != a.id:
        raise IllegalTransition(f"工单 {s.number} 没有待审批的延期申请 {a.id}")
    new_due: str | None = None
    if a.approve:
        if a.new_due_at is None:
            raise InvalidField("new_due_at", "批准延期须给出新的办理时限")
        _require_aware(a.new_due_at, "new_due_at")
        if a.new_due_at <= s.assignment(pending.assignment_id).due_at:
            raise InvalidField("new_due_at", "新的办理时限必须晚于原时限")
        new_due = _iso(a.new_due_at)
    return s.status, a.note, {"id": a.id, "approve": a.approve, "new_due_at": new_due}


def _lead_of(s: TicketState, department: str) -> AssignmentState:
    asg = s.active_assignment_of(department)
    if asg.role is not Role.LEAD:
        raise IllegalTransition("只有主办单位可以执行此操作", code="not_lead")
    return asg


def _d_suspend(s: TicketState, a: Suspend, actor: Actor, now: datetime) -> _Decision:
    asg = _lead_of(s, a.department)
    _require_aware(a.expected_by, "expected_by")
    if a.expected_by <= now:
        raise InvalidField("expected_by", "预计解决时间必须晚于当前时间")
    return (
        Status.SUSPENDED,
        None,
        {
            "assignment": asg.id,
            "progress": _text(a.progress, "progress"),
            "measures": _text(a.measures, "measures"),
            "expected_by": _iso(a.expected_by),
        },
    )


def _d_resume(s: TicketState, a: Resume, actor: Actor, now: datetime) -> _Decision:
    lead = s.lead
    if lead is None:  # pragma: no cover - excluded by the invariants
        raise IllegalTransition(f"工单 {s.number} 没有主办单位")
    if actor.kind is ActorKind.DEPARTMENT and actor.department != lead.department:
        raise IllegalTransition("只有主办单位可以恢复办理", code="not_lead")
    return Status.IN_PROGRESS, a.note, {"assignment": lead.id}


def _d_reply(s: TicketState, a: Reply, actor: Actor, now: datetime) -> _Decision:
    asg = s.active_assignment_of(a.department)
    if asg.status not in (
        AssignmentStatus.SIGNED,
        AssignmentStatus.IN_PROGRESS,
        AssignmentStatus.SUSPENDED,
    ):
        raise IllegalTransition(f"单位 {a.department} 须先签收工单 {s.number}", code="not_signed")
    after = Status.REPLIED if asg.role is Role.LEAD else s.status
    return (
        after,
        _text(a.content, "content"),
        {"assignment": asg.id, "contacted_citizen": bool(a.contacted_citizen)},
    )


def _d_start_callback(s: TicketState, a: StartCallback, actor: Actor, now: datetime) -> _Decision:
    return Status.AWAITING_CALLBACK, a.note, {}


def _d_close(s: TicketState, a: Close, actor: Actor, now: datetime) -> _Decision:
    return Status.CLOSED, a.note, {}


def _d_reopen(s: TicketState, a: Reopen, actor: Actor, now: datetime) -> _Decision:
    return Status.AWAITING_DISPATCH, _text(a.reason, "reason"), {}


def _d_supervise(s: TicketState, a: Supervise, actor: Actor, now: datetime) -> _Decision:
    return s.status, _text(a.note, "note"), {"level": s.supervision_level + 1}


def _d_attach(s: TicketState, a: AttachContact, actor: Actor, now: datetime) -> _Decision:
    note = f"并入工单 {a.merged_from}" if a.merged_from else None
    return (
        s.status,
        note,
        {"contact": a.contact_id, "channel": a.channel, "merged_from": a.merged_from},
    )


def _d_annotate(s: TicketState, a: Annotate, actor: Actor, now: datetime) -> _Decision:
    return s.status, _text(a.note, "note"), {"kind": a.kind, **dict(a.details)}


def _d_amend(s: TicketState, a: Amend, actor: Actor, now: datetime) -> _Decision:
    current = s.classification
    changes: JSON = {}
    for name in ("type", "category", "division", "street", "urgency", "confidential"):
        value = getattr(a, name)
        if value is not None and value != getattr(current, name):
            changes[name] = value.value if hasattr(value, "value") else value
    if not changes:
        raise InvalidField("amend", "没有需要修改的内容")
    return s.status, None, {"changes": changes}


_Decision = tuple[Status, str | None, JSON]

_DECIDERS: dict[type, Any] = {
    Triage: _d_triage,
    AnswerDirectly: _d_answer,
    Reject: _d_reject,
    TransferEmergency: _d_transfer,
    Merge: _d_merge,
    Dispatch: _d_dispatch,
    Delegate: _d_delegate,
    Sign: _d_sign,
    Progress: _d_progress,
    RequestReturn: _d_request_return,
    DecideReturn: _d_decide_return,
    RequestExtension: _d_request_extension,
    DecideExtension: _d_decide_extension,
    Suspend: _d_suspend,
    Resume: _d_resume,
    Reply: _d_reply,
    StartCallback: _d_start_callback,
    Close: _d_close,
    Reopen: _d_reopen,
    Supervise: _d_supervise,
    AttachContact: _d_attach,
    Annotate: _d_annotate,
    Amend: _d_amend,
}


# --------------------------------------------------------------------------------------------
# evolve
# --------------------------------------------------------------------------------------------


def evolve(state: TicketState | None, event: Event) -> TicketState:
    """Apply one event. Trusts the event: ``decide`` already checked it."""
    if state is None:
        if event.action != "received":
            raise ValueError(f"a history must start with 'received', not {event.action!r}")
        return TicketState(
            number=event.data["number"],
            status=Status.RECEIVED,
            version=1,
            classification=_classification_from_json(event.data["classification"]),
        )
    s = _EVOLVERS.get(event.action, _e_nothing)(state, event)
    return replace(s, status=event.status_after, version=state.version + 1)


def replay(events: Iterable[Event]) -> TicketState:
    state: TicketState | None = None
    for event in events:
        state = evolve(state, event)
    if state is None:
        raise ValueError("an empty history has no state")
    return state


def _set_assignment(s: TicketState, assignment_id: str, **changes: Any) -> TicketState:
    return replace(
        s,
        assignments=tuple(
            replace(a, **changes) if a.id == assignment_id else a for a in s.assignments
        ),
    )


def _close_active(s: TicketState) -> TicketState:
    return replace(
        s,
        assignments=tuple(
            replace(a, status=AssignmentStatus.CLOSED) if a.is_active else a for a in s.assignments
        ),
        pending_returns=(),
        pending_extension=None,
        suspension=None,
    )


def _e_nothing(s: TicketState, e: Event) -> TicketState:
    return s


def _with_assignments(s: TicketState, new: Iterable[Mapping[str, Any]]) -> TicketState:
    added = [_assignment_from_json(x) for x in new]
    ordered = sorted((*s.assignments, *added), key=lambda a: (a.dispatched_at, a.id))
    return replace(s, assignments=tuple(ordered))


def _e_dispatched(s: TicketState, e: Event) -> TicketState:
    return _with_assignments(s, e.data["assignments"])


def _e_signed(s: TicketState, e: Event) -> TicketState:
    return _set_assignment(s, e.data["assignment"], status=AssignmentStatus.SIGNED, signed_at=e.at)


def _e_progress(s: TicketState, e: Event) -> TicketState:
    asg = s.assignment(e.data["assignment"])
    if asg.status is AssignmentStatus.SUSPENDED:
        return s
    return _set_assignment(s, asg.id, status=AssignmentStatus.IN_PROGRESS)


def _e_return_requested(s: TicketState, e: Event) -> TicketState:
    pending = PendingReturn(
        id=e.data["id"],
        assignment_id=e.data["assignment"],
        reason=e.note or "",
        requested_at=e.at,
        assignment_status_before=AssignmentStatus(e.data["assignment_status_before"]),
        ticket_status_before=e.status_before or Status.DISPATCHED,
        needs_arbitration=bool(e.data.get("needs_arbitration")),
    )
    s = _set_assignment(s, pending.assignment_id, status=AssignmentStatus.RETURN_PENDING)
    ordered = sorted((*s.pending_returns, pending), key=lambda r: (r.requested_at, r.id))
    return replace(s, pending_returns=tuple(ordered))


def _e_return_decided(s: TicketState, e: Event) -> TicketState:
    pending = s.pending_return(e.data["id"])
    rest = tuple(r for r in s.pending_returns if r.id != pending.id)
    asg = s.assignment(pending.assignment_id)
    if not e.data["approve"]:
        s = _set_assignment(s, asg.id, status=pending.assignment_status_before)
        return replace(s, pending_returns=rest)
    s = _set_assignment(s, asg.id, status=AssignmentStatus.RETURNED)
    s = replace(s, pending_returns=rest, returns_approved=s.returns_approved + 1)
    if asg.role is Role.LEAD:
        s = _with_assignments(_close_active(s), e.data.get("redispatch", []))
    return s


def _e_extension_requested(s: TicketState, e: Event) -> TicketState:
    return replace(
        s,
        pending_extension=PendingExtension(
            id=e.data["id"],
            assignment_id=e.data["assignment"],
            reason=e.note or "",
            approved_by=e.data["approved_by"],
            requested_at=e.at,
        ),
    )


def _e_extension_decided(s: TicketState, e: Event) -> TicketState:
    pending = s.pending_extension
    assert pending is not None  # noqa: S101 - decide() guarantees it
    s = replace(s, pending_extension=None)
    if e.data["approve"]:
        asg = s.assignment(pending.assignment_id)
        s = _set_assignment(
            s,
            asg.id,
            due_at=datetime.fromisoformat(e.data["new_due_at"]),
            extensions_granted=asg.extensions_granted + 1,
        )
    return s


def _e_suspended(s: TicketState, e: Event) -> TicketState:
    s = _set_assignment(s, e.data["assignment"], status=AssignmentStatus.SUSPENDED)
    return replace(
        s,
        suspension=Suspension(
            progress=e.data["progress"],
            measures=e.data["measures"],
            expected_by=datetime.fromisoformat(e.data["expected_by"]),
            since=e.at,
        ),
    )


def _e_resumed(s: TicketState, e: Event) -> TicketState:
    s = _set_assignment(s, e.data["assignment"], status=AssignmentStatus.IN_PROGRESS)
    return replace(s, suspension=None)


def _e_replied(s: TicketState, e: Event) -> TicketState:
    asg = s.assignment(e.data["assignment"])
    s = _set_assignment(s, asg.id, status=AssignmentStatus.REPLIED, replied_at=e.at)
    if asg.role is Role.LEAD:
        s = _close_active(s)
    return s


def _e_finished(s: TicketState, e: Event) -> TicketState:
    s = _close_active(s)
    if e.action == "merged":
        s = replace(s, merged_into=e.data["into"])
    return s


def _e_reopened(s: TicketState, e: Event) -> TicketState:
    return replace(_close_active(s), reopen_count=s.reopen_count + 1)


def _e_supervised(s: TicketState, e: Event) -> TicketState:
    return replace(s, supervision_level=int(e.data["level"]))


def _e_contact_attached(s: TicketState, e: Event) -> TicketState:
    return replace(s, repeat_count=s.repeat_count + 1)


def _e_amended(s: TicketState, e: Event) -> TicketState:
    current = _classification_json(s.classification)
    current.update(e.data["changes"])
    return replace(s, classification=_classification_from_json(current))


_EVOLVERS: dict[str, Callable[[TicketState, Event], TicketState]] = {
    "dispatched": _e_dispatched,
    "delegated": _e_dispatched,
    "signed": _e_signed,
    "progress": _e_progress,
    "return_requested": _e_return_requested,
    "return_decided": _e_return_decided,
    "extension_requested": _e_extension_requested,
    "extension_decided": _e_extension_decided,
    "suspended": _e_suspended,
    "resumed": _e_resumed,
    "replied": _e_replied,
    "answered": _e_finished,
    "rejected": _e_finished,
    "transferred": _e_finished,
    "merged": _e_finished,
    "closed": _e_finished,
    "reopened": _e_reopened,
    "supervised": _e_supervised,
    "contact_attached": _e_contact_attached,
    "amended": _e_amended,
}


# --------------------------------------------------------------------------------------------
# Invariants (checked by the property tests and, cheaply, after every service action)
# --------------------------------------------------------------------------------------------


def check_invariants(s: TicketState) -> None:
    """Raise AssertionError naming the first broken invariant."""
    leads = [a for a in s.assignments if a.role is Role.LEAD and a.is_active]
    if s.status in WITH_DEPARTMENT:
        _ensure(len(leads) == 1, f"{s.status} needs exactly one active lead, has {len(leads)}")
    else:
        _ensure(not s.active_assignments, f"{s.status} must have no active assignment")
    lead_ids = {a.id for a in leads}
    lead_return_pending = any(r.assignment_id in lead_ids for r in s.pending_returns)
    _ensure(
        (s.status is Status.RETURNED) == lead_return_pending,
        "RETURNED iff the lead's return is pending",
    )
    for r in s.pending_returns:
        _ensure(
            s.assignment(r.assignment_id).status is AssignmentStatus.RETURN_PENDING,
            "a pending return's assignment is RETURN_PENDING",
        )
    _ensure(
        (s.status is Status.SUSPENDED) == (s.suspension is not None), "SUSPENDED iff suspension"
    )
    _ensure((s.status is Status.MERGED) == (s.merged_into is not None), "MERGED iff merged_into")
    if s.pending_extension is not None:
        _ensure(
            s.status in ALLOWED_FROM["extension_decided"],
            "a pending extension belongs to a lead unit still handling",
        )
    departments = [a.department for a in s.active_assignments]
    _ensure(len(departments) == len(set(departments)), "one active assignment per unit")
    for a in s.assignments:
        _ensure(a.dispatched_at < a.due_at, "due after dispatch")
        _ensure(a.extensions_granted >= 0, "extensions are counted up")


def _ensure(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


# --------------------------------------------------------------------------------------------
# JSON helpers (events are stored as JSON)
# --------------------------------------------------------------------------------------------


def _require_aware(value: datetime, name: str) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidField(name, "必须是带时区的时间")


def _classification_json(c: Classification) -> JSON:
    return {
        "type": c.type.value if c.type else None,
        "category": c.category,
        "division": c.division,
        "street": c.street,
        "urgency": c.urgency.value,
        "confidential": c.confidential,
    }


def _classification_from_json(d: Mapping[str, Any]) -> Classification:
    return Classification(
        type=TicketType(d["type"]) if d.get("type") else None,
        category=d.get("category"),
        division=d.get("division"),
        street=d.get("street"),
        urgency=Urgency(d.get("urgency") or Urgency.NORMAL.value),
        confidential=bool(d.get("confidential")),
    )


def _iso(when: datetime) -> str:
    """Times in events are written as they are shown: Asia/Shanghai, with the offset."""
    return to_shanghai(when).isoformat()


def _new_assignment_json(a: NewAssignment) -> JSON:
    return {
        "id": a.id,
        "department": a.department,
        "role": a.role.value,
        "dispatched_at": _iso(a.dispatched_at),
        "sign_due_at": _iso(a.sign_due_at),
        "return_due_at": _iso(a.return_due_at),
        "due_at": _iso(a.due_at),
    }


def _assignment_from_json(d: Mapping[str, Any]) -> AssignmentState:
    return AssignmentState(
        id=d["id"],
        department=d["department"],
        role=Role(d["role"]),
        status=AssignmentStatus.DISPATCHED,
        dispatched_at=datetime.fromisoformat(d["dispatched_at"]),
        sign_due_at=datetime.fromisoformat(d["sign_due_at"]),
        return_due_at=datetime.fromisoformat(d["return_due_at"]),
        due_at=datetime.fromisoformat(d["due_at"]),
    )
