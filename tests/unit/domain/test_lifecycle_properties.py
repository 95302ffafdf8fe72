"""Random action sequences keep the lifecycle's invariants and replay to the same state."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from hotline.domain.errors import DomainError
from hotline.domain.lifecycle import (
    ALLOWED_FROM,
    Amend,
    Annotate,
    AnswerDirectly,
    AttachContact,
    Close,
    DecideExtension,
    DecideReturn,
    Delegate,
    Dispatch,
    Event,
    Merge,
    NewAssignment,
    Progress,
    Reject,
    Reopen,
    Reply,
    RequestExtension,
    RequestReturn,
    Resume,
    Sign,
    StartCallback,
    Supervise,
    Suspend,
    TicketState,
    TransferEmergency,
    Triage,
    check_invariants,
    decide,
    evolve,
    replay,
)
from hotline.domain.vocabulary import (
    EmergencyService,
    RejectReason,
    Role,
    Status,
    Urgency,
)
from tests.factories import AGENT, SUPERVISOR, Story, dept, new_assignment, next_id

UNITS = ["CGJ", "GOV-410503", "GSGS"]
KINDS = [
    "triage",
    "answer",
    "reject",
    "transfer",
    "merge",
    "dispatch",
    "sign",
    "progress",
    "request_return",
    "decide_return",
    "request_extension",
    "decide_extension",
    "suspend",
    "resume",
    "reply",
    "start_callback",
    "close",
    "reopen",
    "supervise",
    "attach",
    "amend",
    "delegate",
    "annotate",
]


#: kind → the action name in the implementation's table (used only to bias the exploration)
EVENT_NAMES = {
    "triage": "triaged",
    "answer": "answered",
    "reject": "rejected",
    "transfer": "transferred",
    "merge": "merged",
    "dispatch": "dispatched",
    "sign": "signed",
    "progress": "progress",
    "request_return": "return_requested",
    "decide_return": "return_decided",
    "request_extension": "extension_requested",
    "decide_extension": "extension_decided",
    "suspend": "suspended",
    "resume": "resumed",
    "reply": "replied",
    "start_callback": "callback_started",
    "close": "closed",
    "reopen": "reopened",
    "supervise": "supervised",
    "attach": "contact_attached",
    "amend": "amended",
    "delegate": "delegated",
    "annotate": "noted",
}


#: actions that end a ticket for good; drawn less often so that runs reach the later stages
TERMINAL = {"answer", "reject", "transfer", "merge"}


def draw_kind(data: st.DataObject, state: TicketState) -> str:
    """Mostly an action the status allows (so runs go deep), sometimes any action at all."""
    bias = data.draw(st.integers(0, 9), label="bias")
    if bias == 0:
        return data.draw(st.sampled_from(KINDS), label="kind")
    plausible = [k for k in KINDS if state.status in ALLOWED_FROM[EVENT_NAMES[k]]]
    if bias > 1:
        plausible = [k for k in plausible if k not in TERMINAL] or plausible
    return data.draw(st.sampled_from(plausible or KINDS), label="kind")


def build_action(
    kind: str,
    data: st.DataObject,
    state: TicketState,
    story: Story,
    merge_target: str = "AY20260101-000001",
) -> Any:
    active = [a.department for a in state.active_assignments]
    unit = data.draw(st.sampled_from(active + UNITS if active else UNITS), label="unit")
    now = story.now
    if kind == "dispatch":
        lead = data.draw(st.sampled_from(UNITS), label="lead")
        co = data.draw(st.lists(st.sampled_from(UNITS), max_size=2, unique=True), label="co")
        days = data.draw(st.integers(1, 20), label="days")
        items: list[NewAssignment] = [new_assignment(lead, Role.LEAD, now, days=days)]
        items += [new_assignment(c, Role.CO, now, days=days) for c in co]
        return Dispatch(tuple(items))
    if kind == "decide_return":
        ids = [r.id for r in state.pending_returns] or ["missing"]
        redispatch: tuple[NewAssignment, ...] = ()
        if data.draw(st.booleans(), label="redispatch"):
            redispatch = (new_assignment(unit, Role.LEAD, now),)
        return DecideReturn(
            data.draw(st.sampled_from(ids), label="return id"),
            approve=data.draw(st.booleans(), label="approve"),
            redispatch=redispatch,
        )
    if kind == "decide_extension":
        pending = state.pending_extension
        ident = pending.id if pending else "missing"
        lead = state.lead
        new_due = (lead.due_at if lead else now) + timedelta(
            days=data.draw(st.integers(-2, 10), label="shift")
        )
        return DecideExtension(ident, data.draw(st.booleans(), label="approve"), new_due)
    if kind == "delegate":
        street = data.draw(st.sampled_from(UNITS), label="street")
        return Delegate(unit, new_assignment(street, Role.CO, now))
    simple: dict[str, Any] = {
        "triage": Triage(),
        "answer": AnswerDirectly("答复"),
        "reject": Reject(RejectReason.OUTSIDE_CITY, "请联系属地"),
        "transfer": TransferEmergency(EmergencyService.POLICE),
        "merge": Merge(merge_target),
        "sign": Sign(unit),
        "progress": Progress(unit, "进展"),
        "request_return": RequestReturn(next_id("ret"), unit, "非本单位职责"),
        "request_extension": RequestExtension(next_id("ext"), unit, "复杂", "负责人"),
        "suspend": Suspend(unit, "进度", "措施", now + timedelta(days=10)),
        "resume": Resume(),
        "reply": Reply(unit, "已办理", data.draw(st.booleans(), label="contacted")),
        "start_callback": StartCallback(),
        "close": Close(),
        "reopen": Reopen("不满意"),
        "supervise": Supervise("督办"),
        "attach": AttachContact(next_id("c"), "sms"),
        "amend": Amend(urgency=data.draw(st.sampled_from(list(Urgency)), label="urgency")),
        "annotate": Annotate("记录", kind="note"),
    }
    return simple[kind]


class LifecycleMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.story = Story()
        self.accepted = 0
        self.refused = 0

    @property
    def state(self) -> TicketState:
        return self.story.state

    @rule(
        data=st.data(),
    )
    def act(self, data: st.DataObject) -> None:
        # mostly minutes; sometimes a jump past the 24-hour window or a due date
        long = data.draw(st.integers(0, 9), label="long") == 0
        minutes = data.draw(
            st.integers(60 * 20, 60 * 24 * 12) if long else st.integers(1, 120), label="minutes"
        )
        self.story.now += timedelta(minutes=minutes)
        before = self.state
        kind = draw_kind(data, before)
        action = build_action(kind, data, before, self.story)
        actor = (
            dept(getattr(action, "department", "CGJ"))
            if hasattr(action, "department")
            else (SUPERVISOR if kind in ("decide_return", "decide_extension", "reopen") else AGENT)
        )
        try:
            event: Event = decide(before, action, actor, self.story.now)
        except DomainError:
            self.refused += 1
            assert self.state is before
            return
        after = evolve(before, event)
        self._check_step(before, after, event)
        self.story.state = after
        self.story.events.append(event)
        self.accepted += 1

    def _check_step(self, before: TicketState, after: TicketState, event: Event) -> None:
        assert event.status_before is before.status
        assert after.status is event.status_after
        # final statuses are left only by reopening
        if before.status.is_final and after.status is not before.status:
            assert event.action == "reopened"
        # an approved extension moves the due time later, never earlier
        if event.action == "extension_decided" and event.data["approve"]:
            assert before.due_at is not None and after.due_at is not None
            assert after.due_at > before.due_at
        # units never get more than the policy's one extension
        assert all(a.extensions_granted <= 1 for a in after.assignments)

    @invariant()
    def invariants_hold(self) -> None:
        check_invariants(self.state)
        assert self.state.version == len(self.story.events)

    @invariant()
    def history_replays_to_the_state(self) -> None:
        assert replay(self.story.events) == self.state

    @invariant()
    def closed_tickets_have_no_clock(self) -> None:
        if self.state.status not in (
            Status.DISPATCHED,
            Status.SIGNED,
            Status.IN_PROGRESS,
            Status.SUSPENDED,
            Status.RETURNED,
        ):
            assert self.state.due_at is None


LifecycleMachine.TestCase.settings = settings(
    max_examples=300, stateful_step_count=40, deadline=None
)
TestLifecycle = LifecycleMachine.TestCase
