"""When units hear about their clocks: the pure schedule of notices."""

from __future__ import annotations

from datetime import datetime, timedelta

from dispatch.config import EscalationConfig
from dispatch.escalation import (
    DUE_SOON,
    ESCALATION,
    OVERDUE,
    SIGN_OVERDUE,
    Clock,
    first_look,
    plan,
    schedule,
)
from hotline.calendar import SHANGHAI
from hotline.domain.vocabulary import AssignmentStatus as A

DUE = datetime(2026, 12, 3, 23, 59, 59, tzinfo=SHANGHAI)
SIGN = datetime(2026, 11, 26, 12, 0, tzinfo=SHANGHAI)
POLICY = EscalationConfig()


def clock(status: A = A.SIGNED, due: datetime = DUE) -> Clock:
    return Clock(status, SIGN, due)


def test_the_schedule_in_time_order() -> None:
    kinds = [(n.kind, n.level, n.fire_at) for n in schedule(clock(), POLICY)]
    assert kinds == [
        (SIGN_OVERDUE, 0, SIGN),
        (DUE_SOON, 0, DUE - timedelta(hours=24)),
        (OVERDUE, 0, DUE),
        (ESCALATION, 1, DUE + timedelta(hours=24)),
        (ESCALATION, 2, DUE + timedelta(hours=72)),
    ]
    assert first_look(clock(), POLICY) == SIGN


def test_what_is_due_fires_once_and_the_next_look_is_the_next_notice() -> None:
    now = DUE + timedelta(hours=1)
    first = plan(clock(), POLICY, set(), now)
    assert [n.kind for n in first.fire] == [DUE_SOON, OVERDUE]
    assert [n.kind for n in first.skip] == [SIGN_OVERDUE]  # signed: no sign-for notice
    assert first.next_at == DUE + timedelta(hours=24)
    sent = {n.key for n in first.fire + first.skip}
    again = plan(clock(), POLICY, sent, now)
    assert again.fire == [] and again.skip == []
    assert again.next_at == DUE + timedelta(hours=24)


def test_an_unsigned_ticket_gets_the_sign_notice() -> None:
    p = plan(clock(A.DISPATCHED), POLICY, set(), SIGN + timedelta(minutes=1))
    assert [n.kind for n in p.fire] == [SIGN_OVERDUE]


def test_no_notices_once_the_unit_no_longer_holds_the_ticket() -> None:
    for status in (A.REPLIED, A.RETURNED, A.CLOSED, A.SUSPENDED):
        p = plan(clock(status), POLICY, set(), DUE + timedelta(days=10))
        assert p.fire == [] and p.next_at is None


def test_a_new_due_time_starts_a_new_schedule() -> None:
    old = plan(clock(), POLICY, set(), DUE + timedelta(minutes=1))
    sent = {n.key for n in old.fire + old.skip}
    later = DUE + timedelta(days=7)
    p = plan(clock(due=later), POLICY, sent, DUE + timedelta(minutes=2))
    assert p.fire == []
    assert p.next_at == later - timedelta(hours=24)


def test_policy_switches() -> None:
    quiet = EscalationConfig(remind_before_hours=0, sign_overdue=False, escalate_after_hours=[])
    assert [n.kind for n in schedule(clock(), quiet)] == [OVERDUE]
