"""Builders for domain states and actions, shared by the unit and integration tests."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from hotline.calendar import SHANGHAI
from hotline.domain.lifecycle import (
    Actor,
    AnswerDirectly,
    Classification,
    Close,
    Dispatch,
    Event,
    Merge,
    NewAssignment,
    Progress,
    Reject,
    Reply,
    RequestReturn,
    Sign,
    StartCallback,
    Suspend,
    TicketState,
    TransferEmergency,
    Triage,
    decide,
    evolve,
    open_ticket,
)
from hotline.domain.vocabulary import (
    ActorKind,
    EmergencyService,
    RejectReason,
    Role,
    Status,
    TicketType,
)

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)
AGENT = Actor(ActorKind.AGENT, "agent1")
SUPERVISOR = Actor(ActorKind.SUPERVISOR, "supervisor1")
LEAD = "CGJ"
CO = "GOV-410503"

_ids = itertools.count(1)


def next_id(prefix: str = "id") -> str:
    return f"{prefix}-{next(_ids):06d}"


def dept(code: str) -> Actor:
    return Actor(ActorKind.DEPARTMENT, f"{code}-user", code)


def new_assignment(
    department: str, role: Role, at: datetime, *, days: int = 7, ident: str | None = None
) -> NewAssignment:
    return NewAssignment(
        id=ident or next_id("asg"),
        department=department,
        role=role,
        dispatched_at=at,
        sign_due_at=at + timedelta(hours=2),
        return_due_at=at + timedelta(hours=24),
        due_at=at + timedelta(days=days),
    )


def dispatch_action(at: datetime, lead: str = LEAD, co: tuple[str, ...] = (CO,)) -> Dispatch:
    return Dispatch(
        (
            new_assignment(lead, Role.LEAD, at),
            *(new_assignment(c, Role.CO, at) for c in co),
        )
    )


class Story:
    """A ticket's life told step by step: keeps the state, the events and the clock."""

    def __init__(self, number: str = "AY20261126-000001", at: datetime = T0) -> None:
        self.now = at
        classification = Classification(type=TicketType.COMPLAINT, category="municipal")
        self.state, first = open_ticket(number, classification, AGENT, at)
        self.events: list[Event] = [first]

    def tick(self, minutes: int = 10) -> Story:
        self.now += timedelta(minutes=minutes)
        return self

    def do(self, action: object, actor: Actor = AGENT) -> Story:
        self.tick()
        event = decide(self.state, action, actor, self.now)  # type: ignore[arg-type]
        self.state = evolve(self.state, event)
        self.events.append(event)
        return self


def story_in(status: Status) -> Story:
    """A ticket brought to ``status`` by the usual path (lead CGJ, co-handler GOV-410503)."""
    s = Story()
    if status is Status.RECEIVED:
        return s
    if status is Status.AWAITING_DISPATCH:
        return s.do(Triage())
    if status is Status.ANSWERED:
        return s.do(AnswerDirectly("按知识库答复", kb_article="KB-1"))
    if status is Status.REJECTED:
        return s.do(Reject(RejectReason.LITIGATION, "请向人民法院咨询"))
    if status is Status.TRANSFERRED:
        return s.do(TransferEmergency(EmergencyService.FIRE))
    if status is Status.MERGED:
        return s.do(Merge("AY20261125-000009"))
    s.do(dispatch_action(s.now + timedelta(minutes=10)))
    if status is Status.DISPATCHED:
        return s
    if status is Status.RETURNED:
        return s.do(RequestReturn(next_id("ret"), LEAD, "不属于本单位职责"), dept(LEAD))
    s.do(Sign(LEAD), dept(LEAD))
    if status is Status.SIGNED:
        return s
    s.do(Progress(LEAD, "已安排人员现场核实"), dept(LEAD))
    if status is Status.IN_PROGRESS:
        return s
    if status is Status.SUSPENDED:
        return s.do(
            Suspend(LEAD, "已立项", "纳入明年改造计划", s.now + timedelta(days=90)), dept(LEAD)
        )
    s.do(Reply(LEAD, "路灯已修复", contacted_citizen=True), dept(LEAD))
    if status is Status.REPLIED:
        return s
    s.do(StartCallback())
    if status is Status.AWAITING_CALLBACK:
        return s
    s.do(Close("回访满意"))
    assert status is Status.CLOSED
    return s


def state_in(status: Status) -> TicketState:
    return story_in(status).state
