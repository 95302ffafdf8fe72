"""The 工单 lifecycle: every legal transition, every illegal one refused, and the finer rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from hotline.domain.errors import IllegalTransition, InvalidField
from hotline.domain.lifecycle import (
    Actor,
    Amend,
    Annotate,
    AnswerDirectly,
    AttachContact,
    Close,
    DecideExtension,
    DecideReturn,
    Delegate,
    Dispatch,
    Merge,
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
    TransferEmergency,
    Triage,
    check_invariants,
    decide,
    evolve,
    replay,
)
from hotline.domain.vocabulary import (
    AssignmentStatus,
    EmergencyService,
    RejectReason,
    Role,
    Status,
    Urgency,
)
from tests.factories import (
    AGENT,
    CO,
    LEAD,
    SUPERVISOR,
    Story,
    dept,
    dispatch_action,
    new_assignment,
    next_id,
    story_in,
)

S = Status

# (action name, how to build it for a story, who does it)
ActionFactory = Callable[[Story], object]
ACTIONS: dict[str, tuple[ActionFactory, Actor]] = {
    "triage": (lambda s: Triage(), AGENT),
    "answer": (lambda s: AnswerDirectly("可在政务服务网办理", kb_article="KB-7"), AGENT),
    "reject": (lambda s: Reject(RejectReason.OUTSIDE_CITY, "请联系鹤壁市12345"), AGENT),
    "transfer": (lambda s: TransferEmergency(EmergencyService.AMBULANCE), AGENT),
    "merge": (lambda s: Merge("AY20261120-000042"), AGENT),
    "dispatch": (lambda s: dispatch_action(s.now + timedelta(minutes=10)), AGENT),
    "sign": (lambda s: Sign(LEAD), dept(LEAD)),
    "delegate": (
        lambda s: Delegate(LEAD, new_assignment("GOV-410503-洹北街道", Role.CO, s.now)),
        dept(LEAD),
    ),
    "progress": (lambda s: Progress(LEAD, "正在协调"), dept(LEAD)),
    "request_return": (lambda s: RequestReturn(next_id("ret"), LEAD, "非本单位职责"), dept(LEAD)),
    "decide_return": (
        lambda s: DecideReturn(
            s.state.pending_returns[0].id if s.state.pending_returns else "nope", approve=True
        ),
        SUPERVISOR,
    ),
    "request_extension": (
        lambda s: RequestExtension(next_id("ext"), LEAD, "需现场勘测", approved_by="张局长"),
        dept(LEAD),
    ),
    "decide_extension": (
        lambda s: DecideExtension("nope", approve=True, new_due_at=s.now + timedelta(days=20)),
        SUPERVISOR,
    ),
    "suspend": (
        lambda s: Suspend(LEAD, "已立项", "列入改造计划", s.now + timedelta(days=60)),
        dept(LEAD),
    ),
    "resume": (lambda s: Resume(), dept(LEAD)),
    "reply": (lambda s: Reply(LEAD, "已处理完毕", contacted_citizen=True), dept(LEAD)),
    "start_callback": (lambda s: StartCallback(), AGENT),
    "close": (lambda s: Close("已回访"), AGENT),
    "reopen": (lambda s: Reopen("市民不满意"), SUPERVISOR),
    "supervise": (lambda s: Supervise("请加快办理"), SUPERVISOR),
    "attach": (lambda s: AttachContact("99", "sms"), AGENT),
    "amend": (lambda s: Amend(urgency=Urgency.URGENT), AGENT),
    "annotate": (lambda s: Annotate("转接120成功", kind="transfer"), AGENT),
}

OPEN = [s for s in Status if not s.is_final]

#: Written out by hand from the regulation, independently of the implementation's tables.
LEGAL: dict[tuple[Status, str], Status] = {
    (S.RECEIVED, "triage"): S.AWAITING_DISPATCH,
    **{(f, "answer"): S.ANSWERED for f in (S.RECEIVED, S.AWAITING_DISPATCH)},
    **{(f, "reject"): S.REJECTED for f in (S.RECEIVED, S.AWAITING_DISPATCH)},
    **{(f, "transfer"): S.TRANSFERRED for f in (S.RECEIVED, S.AWAITING_DISPATCH)},
    **{(f, "merge"): S.MERGED for f in (S.RECEIVED, S.AWAITING_DISPATCH)},
    **{(f, "dispatch"): S.DISPATCHED for f in (S.RECEIVED, S.AWAITING_DISPATCH)},
    (S.DISPATCHED, "sign"): S.SIGNED,
    **{(f, "delegate"): f for f in (S.SIGNED, S.IN_PROGRESS)},
    (S.SIGNED, "progress"): S.IN_PROGRESS,
    (S.IN_PROGRESS, "progress"): S.IN_PROGRESS,
    (S.SUSPENDED, "progress"): S.SUSPENDED,
    **{(f, "request_return"): S.RETURNED for f in (S.DISPATCHED, S.SIGNED, S.IN_PROGRESS)},
    (S.RETURNED, "decide_return"): S.AWAITING_DISPATCH,
    **{(f, "request_extension"): f for f in (S.SIGNED, S.IN_PROGRESS, S.SUSPENDED)},
    **{(f, "suspend"): S.SUSPENDED for f in (S.SIGNED, S.IN_PROGRESS)},
    (S.SUSPENDED, "resume"): S.IN_PROGRESS,
    **{(f, "reply"): S.REPLIED for f in (S.SIGNED, S.IN_PROGRESS, S.SUSPENDED)},
    (S.REPLIED, "start_callback"): S.AWAITING_CALLBACK,
    **{(f, "close"): S.CLOSED for f in (S.REPLIED, S.AWAITING_CALLBACK)},
    **{
        (f, "reopen"): S.AWAITING_DISPATCH
        for f in (S.ANSWERED, S.REPLIED, S.AWAITING_CALLBACK, S.CLOSED)
    },
    **{
        (f, "supervise"): f
        for f in (
            S.AWAITING_DISPATCH,
            S.DISPATCHED,
            S.SIGNED,
            S.IN_PROGRESS,
            S.SUSPENDED,
            S.RETURNED,
            S.REPLIED,
        )
    },
    **{(f, "attach"): f for f in OPEN},
    **{(f, "amend"): f for f in OPEN},
    **{(f, "annotate"): f for f in Status},
}

MATRIX = [(status, name) for status in Status for name in ACTIONS]


@pytest.mark.parametrize(("status", "name"), MATRIX, ids=[f"{s.value}-{n}" for s, n in MATRIX])
def test_every_transition(status: Status, name: str) -> None:
    story = story_in(status)
    before = story.state
    factory, actor = ACTIONS[name]
    action = factory(story)
    story.tick()
    expected = LEGAL.get((status, name))
    if expected is None:
        with pytest.raises(IllegalTransition):
            decide(before, action, actor, story.now)  # type: ignore[arg-type]
        return
    event = decide(before, action, actor, story.now)  # type: ignore[arg-type]
    after = evolve(before, event)
    assert event.status_before is status
    assert after.status is expected
    assert after.version == before.version + 1
    check_invariants(after)
    assert replay([*story.events, event]) == after


def test_every_status_is_reachable_and_replays() -> None:
    for status in Status:
        story = story_in(status)
        assert story.state.status is status
        check_invariants(story.state)
        assert replay(story.events) == story.state
        assert [e.status_after for e in story.events][-1] is status


# -- dispatch ---------------------------------------------------------------------------------


def test_dispatch_needs_exactly_one_lead_and_distinct_units() -> None:
    s = Story()
    at = s.now + timedelta(minutes=5)
    two_leads = Dispatch((new_assignment(LEAD, Role.LEAD, at), new_assignment(CO, Role.LEAD, at)))
    no_lead = Dispatch((new_assignment(CO, Role.CO, at),))
    twice = Dispatch((new_assignment(LEAD, Role.LEAD, at), new_assignment(LEAD, Role.CO, at)))
    for action in (two_leads, no_lead, twice, Dispatch(())):
        with pytest.raises(InvalidField):
            decide(s.state, action, AGENT, at)


def test_dispatch_refuses_naive_times_and_due_before_dispatch() -> None:
    s = Story()
    at = s.now + timedelta(minutes=5)
    naive = replace(new_assignment(LEAD, Role.LEAD, at), due_at=datetime(2026, 12, 1))  # noqa: DTZ001
    backwards = replace(new_assignment(LEAD, Role.LEAD, at), due_at=at - timedelta(hours=1))
    for a in (naive, backwards):
        with pytest.raises(InvalidField):
            decide(s.state, Dispatch((a,)), AGENT, at)
    with pytest.raises(InvalidField):
        decide(s.state, Triage(), AGENT, datetime(2026, 11, 26, 10))  # noqa: DTZ001


def test_unit_not_assigned_cannot_act() -> None:
    s = story_in(Status.DISPATCHED)
    with pytest.raises(IllegalTransition) as info:
        decide(s.state, Sign("JYJ"), dept("JYJ"), s.now)
    assert info.value.code == "not_assigned"


def test_signing_twice_is_refused() -> None:
    s = story_in(Status.SIGNED)
    with pytest.raises(IllegalTransition) as info:
        decide(s.state, Sign(LEAD), dept(LEAD), s.now)
    assert info.value.code == "already_signed"


def test_unsigned_lead_cannot_reply_or_report_progress() -> None:
    s = story_in(Status.DISPATCHED)
    for action in (Reply(LEAD, "done", True), Progress(LEAD, "working")):
        with pytest.raises(IllegalTransition):
            decide(s.state, action, dept(LEAD), s.now)


# -- co-handlers ------------------------------------------------------------------------------


def test_co_handler_signs_and_replies_without_moving_the_ticket() -> None:
    s = story_in(Status.SIGNED)
    s.do(Sign(CO), dept(CO))
    assert s.state.status is Status.SIGNED
    s.do(Reply(CO, "已配合现场核查", contacted_citizen=False), dept(CO))
    co = next(a for a in s.state.assignments if a.department == CO)
    assert co.status is AssignmentStatus.REPLIED
    assert s.state.status is Status.SIGNED
    assert replay(s.events) == s.state


def test_lead_reply_closes_open_co_assignments() -> None:
    s = story_in(Status.IN_PROGRESS)
    s.do(Reply(LEAD, "已修复", contacted_citizen=True), dept(LEAD))
    assert s.state.status is Status.REPLIED
    assert not s.state.active_assignments
    co = next(a for a in s.state.assignments if a.department == CO)
    assert co.status is AssignmentStatus.CLOSED


def test_co_handler_cannot_suspend_or_extend() -> None:
    s = story_in(Status.SIGNED)
    s.do(Sign(CO), dept(CO))
    with pytest.raises(IllegalTransition):
        decide(s.state, Suspend(CO, "p", "m", s.now + timedelta(days=3)), dept(CO), s.now)
    with pytest.raises(IllegalTransition):
        decide(s.state, RequestExtension("e1", CO, "r", "head"), dept(CO), s.now)


# -- returns (退回, 24 hours) -------------------------------------------------------------------


def test_return_needs_a_reason() -> None:
    s = story_in(Status.DISPATCHED)
    with pytest.raises(InvalidField):
        decide(s.state, RequestReturn("r1", LEAD, "  "), dept(LEAD), s.now)


def test_return_after_the_window_is_refused() -> None:
    s = story_in(Status.SIGNED)
    lead = s.state.lead
    assert lead is not None
    late = lead.return_due_at + timedelta(seconds=1)
    with pytest.raises(IllegalTransition) as info:
        decide(s.state, RequestReturn("r1", LEAD, "非本单位职责"), dept(LEAD), late)
    assert info.value.code == "return_window_passed"
    # exactly at the limit is still in time
    decide(s.state, RequestReturn("r1", LEAD, "非本单位职责"), dept(LEAD), lead.return_due_at)


def test_refused_return_goes_back_to_where_it_was() -> None:
    s = story_in(Status.SIGNED)
    s.do(RequestReturn("r1", LEAD, "非本单位职责"), dept(LEAD))
    assert s.state.status is Status.RETURNED
    s.do(DecideReturn("r1", approve=False, note="属于贵单位职责"), SUPERVISOR)
    assert s.state.status is Status.SIGNED
    assert s.state.lead is not None
    assert s.state.lead.status is AssignmentStatus.SIGNED
    assert replay(s.events) == s.state


def test_approved_return_redispatches_with_a_fresh_clock() -> None:
    s = story_in(Status.DISPATCHED)
    s.do(RequestReturn("r1", LEAD, "属供水公司职责"), dept(LEAD))
    fresh = new_assignment("GSGS", Role.LEAD, s.now + timedelta(minutes=10))
    s.do(DecideReturn("r1", approve=True, redispatch=(fresh,)), SUPERVISOR)
    assert s.state.status is Status.DISPATCHED
    lead = s.state.lead
    assert lead is not None
    assert lead.department == "GSGS"
    assert lead.dispatched_at == fresh.dispatched_at
    old = [a for a in s.state.assignments if a.department in (LEAD, CO)]
    assert {a.status for a in old} == {AssignmentStatus.RETURNED, AssignmentStatus.CLOSED}
    assert replay(s.events) == s.state


def test_approved_return_cannot_go_back_to_the_same_unit() -> None:
    s = story_in(Status.RETURNED)
    pending = s.state.pending_returns[0]
    again = new_assignment(LEAD, Role.LEAD, s.now + timedelta(minutes=5))
    with pytest.raises(InvalidField):
        decide(s.state, DecideReturn(pending.id, True, redispatch=(again,)), SUPERVISOR, s.now)


def test_a_second_return_needs_arbitration() -> None:
    s = story_in(Status.RETURNED)
    s.do(DecideReturn(s.state.pending_returns[0].id, approve=True), SUPERVISOR)
    s.do(dispatch_action(s.now + timedelta(minutes=5), lead="GSGS", co=()))
    s.do(RequestReturn("r2", "GSGS", "也不是我们的"), dept("GSGS"))
    assert s.state.pending_returns[0].needs_arbitration


def test_co_handler_return_leaves_the_ticket_with_the_lead() -> None:
    s = story_in(Status.SIGNED)
    s.do(RequestReturn("rc", CO, "本街道无此路段"), dept(CO))
    assert s.state.status is Status.SIGNED
    s.do(DecideReturn("rc", approve=True), SUPERVISOR)
    co = next(a for a in s.state.assignments if a.department == CO)
    assert co.status is AssignmentStatus.RETURNED
    assert s.state.lead is not None and s.state.lead.department == LEAD
    assert replay(s.events) == s.state


def test_no_return_while_an_extension_is_pending() -> None:
    s = story_in(Status.SIGNED)
    s.do(RequestExtension("e1", LEAD, "需协调", "王局长"), dept(LEAD))
    with pytest.raises(IllegalTransition):
        decide(s.state, RequestReturn("r1", LEAD, "x"), dept(LEAD), s.now)


# -- extensions (延期, once by 5 working days) ---------------------------------------------------


def test_extension_approved_moves_the_due_time_once() -> None:
    s = story_in(Status.IN_PROGRESS)
    lead = s.state.lead
    assert lead is not None
    s.do(RequestExtension("e1", LEAD, "涉及多部门", "王局长"), dept(LEAD))
    assert s.state.pending_extension is not None
    with pytest.raises(IllegalTransition):  # one pending at a time
        decide(s.state, RequestExtension("e2", LEAD, "x", "y"), dept(LEAD), s.now)
    new_due = lead.due_at + timedelta(days=7)
    s.do(DecideExtension("e1", approve=True, new_due_at=new_due), SUPERVISOR)
    assert s.state.due_at == new_due
    assert s.state.pending_extension is None
    with pytest.raises(IllegalTransition) as info:
        decide(s.state, RequestExtension("e3", LEAD, "x", "y"), dept(LEAD), s.now)
    assert info.value.code == "extension_limit"
    # a policy allowing two extensions lets the unit ask again
    decide(s.state, RequestExtension("e3", LEAD, "x", "y", max_extensions=2), dept(LEAD), s.now)
    assert replay(s.events) == s.state


def test_extension_refused_keeps_the_due_time() -> None:
    s = story_in(Status.SIGNED)
    due = s.state.due_at
    s.do(RequestExtension("e1", LEAD, "需协调", "王局长"), dept(LEAD))
    s.do(DecideExtension("e1", approve=False, note="不符合延期条件"), SUPERVISOR)
    assert s.state.due_at == due
    assert s.state.pending_extension is None


def test_extension_must_be_asked_before_due_with_reason_and_approver() -> None:
    s = story_in(Status.SIGNED)
    lead = s.state.lead
    assert lead is not None
    with pytest.raises(IllegalTransition) as info:
        decide(s.state, RequestExtension("e1", LEAD, "r", "head"), dept(LEAD), lead.due_at)
    assert info.value.code == "overdue"
    for reason, head in (("", "head"), ("r", " ")):
        with pytest.raises(InvalidField):
            decide(s.state, RequestExtension("e1", LEAD, reason, head), dept(LEAD), s.now)


def test_extension_approval_needs_a_later_due_time() -> None:
    s = story_in(Status.SIGNED)
    s.do(RequestExtension("e1", LEAD, "r", "head"), dept(LEAD))
    lead = s.state.lead
    assert lead is not None
    for bad in (None, lead.due_at, lead.due_at - timedelta(days=1)):
        with pytest.raises(InvalidField):
            decide(s.state, DecideExtension("e1", True, bad), SUPERVISOR, s.now)
    with pytest.raises(IllegalTransition):
        decide(
            s.state, DecideExtension("other", True, lead.due_at + timedelta(1)), SUPERVISOR, s.now
        )


def test_reply_withdraws_a_pending_extension() -> None:
    s = story_in(Status.SIGNED)
    s.do(RequestExtension("e1", LEAD, "r", "head"), dept(LEAD))
    s.do(Reply(LEAD, "已办结", contacted_citizen=True), dept(LEAD))
    assert s.state.pending_extension is None


# -- suspension (暂缓) --------------------------------------------------------------------------


def test_suspension_needs_progress_measures_and_a_future_date() -> None:
    s = story_in(Status.IN_PROGRESS)
    for progress, measures, when in (
        ("", "m", s.now + timedelta(days=1)),
        ("p", "", s.now + timedelta(days=1)),
        ("p", "m", s.now),
    ):
        with pytest.raises(InvalidField):
            decide(s.state, Suspend(LEAD, progress, measures, when), dept(LEAD), s.now)
    s.do(Suspend(LEAD, "已报批", "待资金到位后施工", s.now + timedelta(days=30)), dept(LEAD))
    assert s.state.suspension is not None
    assert s.state.suspension.measures == "待资金到位后施工"
    s.do(Resume("资金已到位"), dept(LEAD))
    assert s.state.suspension is None
    assert s.state.status is Status.IN_PROGRESS


def test_only_the_lead_resumes() -> None:
    s = story_in(Status.SUSPENDED)
    with pytest.raises(IllegalTransition):
        decide(s.state, Resume(), dept(CO), s.now)
    decide(s.state, Resume(), SUPERVISOR, s.now)


# -- the centre's actions ---------------------------------------------------------------------


def test_answer_reject_and_merge_need_their_text() -> None:
    s = Story()
    with pytest.raises(InvalidField):
        decide(s.state, AnswerDirectly(" "), AGENT, s.now)
    with pytest.raises(InvalidField):
        decide(s.state, Reject(RejectReason.PETITION, ""), AGENT, s.now)
    with pytest.raises(InvalidField):
        decide(s.state, Merge(s.state.number), AGENT, s.now)


def test_reopen_then_dispatch_again_keeps_history() -> None:
    s = story_in(Status.CLOSED)
    s.do(Reopen("回访不满意，重办"), SUPERVISOR)
    assert s.state.status is Status.AWAITING_DISPATCH
    assert s.state.reopen_count == 1
    s.do(dispatch_action(s.now + timedelta(minutes=5), co=()))
    assert s.state.status is Status.DISPATCHED
    assert len(s.state.assignments) == 3
    assert replay(s.events) == s.state


def test_supervision_counts_levels_and_attachments_count_repeats() -> None:
    s = story_in(Status.SIGNED)
    s.do(Supervise("请加快"), SUPERVISOR).do(Supervise("二次督办"), SUPERVISOR)
    assert s.state.supervision_level == 2
    s.do(AttachContact("5", "sms")).do(AttachContact(None, "phone", merged_from="AY1"))
    assert s.state.repeat_count == 2
    assert s.events[-1].note and "AY1" in s.events[-1].note


def test_amend_changes_classification_and_refuses_no_op() -> None:
    s = Story()
    s.do(Amend(category="water", division="410502"))
    assert s.state.classification.category == "water"
    assert s.state.classification.division == "410502"
    with pytest.raises(InvalidField):
        decide(s.state, Amend(category="water"), AGENT, s.now)
    assert replay(s.events) == s.state


def test_history_must_start_with_received() -> None:
    s = story_in(Status.SIGNED)
    with pytest.raises(ValueError, match="received"):
        replay(s.events[1:])
    with pytest.raises(ValueError, match="empty"):
        replay([])
