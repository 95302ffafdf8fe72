"""Per-assignment clocks (条例第五十条), from the working-day calendar and the policy config.

The clock starts at dispatch, not at sign-for. Which limit applies, most specific first: the
urgent track (clock hours), then the category's override, then the type's, then the default of
5 working days. The return window and the sign-for limit are plain elapsed hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hotline.calendar import WorkingCalendar, local_day, to_shanghai
from hotline.config import TimeLimit, TimeLimitsConfig
from hotline.domain.vocabulary import TicketType, Urgency


@dataclass(frozen=True)
class Clocks:
    sign_due_at: datetime
    return_due_at: datetime
    due_at: datetime
    limit: TimeLimit
    basis: str  # which rule chose the limit, for the event history and the console


def handling_limit(
    policy: TimeLimitsConfig,
    type_: TicketType | None,
    category: str | None,
    urgency: Urgency,
) -> tuple[TimeLimit, str]:
    if urgency is Urgency.URGENT:
        return policy.urgent, "urgent"
    if category is not None and category in policy.by_category:
        return policy.by_category[category], f"category:{category}"
    if type_ is not None and type_ in policy.by_type:
        return policy.by_type[type_], f"type:{type_.value}"
    return TimeLimit(working_days=policy.handling_working_days), "default"


def due_after(calendar: WorkingCalendar, start: datetime, limit: TimeLimit) -> datetime:
    if limit.hours is not None:
        return to_shanghai(start + timedelta(hours=limit.hours))
    assert limit.working_days is not None  # noqa: S101 - TimeLimit validates exactly one
    return calendar.deadline(start, limit.working_days)


def assignment_clocks(
    calendar: WorkingCalendar,
    policy: TimeLimitsConfig,
    dispatched_at: datetime,
    *,
    type_: TicketType | None,
    category: str | None,
    urgency: Urgency,
    limit: TimeLimit | None = None,
) -> Clocks:
    """``limit``, when given, replaces the policy's choice (e.g. a rectification's deadline)."""
    basis = "given"
    if limit is None:
        limit, basis = handling_limit(policy, type_, category, urgency)
    sign_hours = policy.urgent_sign_hours if urgency is Urgency.URGENT else policy.sign_hours
    start = to_shanghai(dispatched_at)
    return Clocks(
        sign_due_at=start + timedelta(hours=sign_hours),
        return_due_at=start + timedelta(hours=policy.return_window_hours),
        due_at=due_after(calendar, start, limit),
        limit=limit,
        basis=basis,
    )


def extended_due(
    calendar: WorkingCalendar, policy: TimeLimitsConfig, current_due: datetime
) -> datetime:
    """An approved extension moves the due time by N working days from the old due day."""
    return calendar.deadline(local_day(current_due), policy.extension_working_days)
