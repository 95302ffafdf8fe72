"""When the hotline speaks to a unit about its clock: pure rules, no I/O.

For one assignment and one due time the schedule is: a sign-for notice when the sign-for time
passes unsigned, a reminder some hours before the due time, 催办 (overdue) at the due time and
督办 (escalation) levels some hours after it. A notice is sent once: it is keyed by the
assignment, its kind and level, and the due time it is about, so an approved extension (a new
due time) starts a new schedule while a restart or a second instance never repeats one.

Notices matter only while the unit holds the ticket: a replied, returned or closed assignment
gets none, and a suspended one (暂缓, with its own expected date) gets no clock notices.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from dispatch.config import EscalationConfig
from hotline.domain.vocabulary import AssignmentStatus

SIGN_OVERDUE = "sign_overdue"
DUE_SOON = "due_soon"
OVERDUE = "overdue"
ESCALATION = "escalation"

#: statuses in which the unit holds the ticket and its clock counts
COUNTING = frozenset(
    {
        AssignmentStatus.DISPATCHED,
        AssignmentStatus.SIGNED,
        AssignmentStatus.IN_PROGRESS,
        AssignmentStatus.RETURN_PENDING,
    }
)


@dataclass(frozen=True)
class Clock:
    """What the rules need of an assignment."""

    status: AssignmentStatus
    sign_due_at: datetime
    due_at: datetime


@dataclass(frozen=True)
class Notice:
    kind: str
    level: int
    fire_at: datetime
    due_at: datetime

    @property
    def key(self) -> tuple[str, int, datetime]:
        return (self.kind, self.level, self.due_at)


def schedule(clock: Clock, policy: EscalationConfig) -> list[Notice]:
    """Every notice for this due time, in time order."""
    due = clock.due_at
    notices = []
    if policy.sign_overdue:
        notices.append(Notice(SIGN_OVERDUE, 0, clock.sign_due_at, due))
    if policy.remind_before_hours:
        notices.append(Notice(DUE_SOON, 0, due - timedelta(hours=policy.remind_before_hours), due))
    if policy.overdue:
        notices.append(Notice(OVERDUE, 0, due, due))
    for level, hours in enumerate(sorted(set(policy.escalate_after_hours)), start=1):
        notices.append(Notice(ESCALATION, level, due + timedelta(hours=hours), due))
    return sorted(notices, key=lambda n: (n.fire_at, n.kind, n.level))


def relevant(notice: Notice, clock: Clock) -> bool:
    if clock.status not in COUNTING:
        return False
    if notice.kind == SIGN_OVERDUE:
        return clock.status is AssignmentStatus.DISPATCHED
    return True


@dataclass(frozen=True)
class Plan:
    fire: list[Notice]
    #: notices whose time came while they no longer applied (recorded, never sent)
    skip: list[Notice]
    next_at: datetime | None


def plan(
    clock: Clock,
    policy: EscalationConfig,
    sent: set[tuple[str, int, datetime]],
    now: datetime,
) -> Plan:
    """What to send now, and when to look at this assignment next (None: never again)."""
    fire, skip, upcoming = [], [], []
    for notice in schedule(clock, policy):
        if notice.key in sent:
            continue
        if notice.fire_at > now:
            upcoming.append(notice.fire_at)
        elif relevant(notice, clock):
            fire.append(notice)
        else:
            skip.append(notice)
    still_counting = clock.status in COUNTING
    next_at = min(upcoming) if upcoming and still_counting else None
    return Plan(fire, skip, next_at)


def first_look(clock: Clock, policy: EscalationConfig) -> datetime | None:
    """When the scheduler should first look at a new assignment (or one with a new due)."""
    times = [n.fire_at for n in schedule(clock, policy)]
    return min(times) if times else None
