"""Automatic call distribution (ACD) as plain rules: who is served first, by whom.

Callers are served by priority, then by arrival: elderly and disabled callers first
(条例第二十二条), then callers who called within the last 24 hours (a repeat call usually means
the first did not help), then everyone else. The longest-idle available agent takes the next
call, so work spreads evenly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

PRIORITY_ASSISTANCE = 20
PRIORITY_REPEAT = 10
#: a caller whose emergency transfer failed goes to the head of the queue
PRIORITY_EMERGENCY = 100


@dataclass(frozen=True)
class Waiting:
    call_sid: str
    priority: int
    queued_at: datetime


@dataclass(frozen=True)
class Idle:
    agent_id: int
    idle_since: datetime


def caller_priority(
    *, needs_assistance: bool, repeat_call: bool, emergency_failed: bool = False
) -> tuple[int, list[str]]:
    """The caller's priority and the reasons for it (shown to the agent)."""
    priority, reasons = 0, []
    if emergency_failed:
        priority += PRIORITY_EMERGENCY
        reasons.append("emergency_transfer_failed")
    if needs_assistance:
        priority += PRIORITY_ASSISTANCE
        reasons.append("elderly_or_disabled")
    if repeat_call:
        priority += PRIORITY_REPEAT
        reasons.append("repeat_caller")
    return priority, reasons


def queue_order(callers: Sequence[Waiting]) -> list[Waiting]:
    return sorted(callers, key=lambda c: (-c.priority, c.queued_at, c.call_sid))


def position(callers: Sequence[Waiting], call_sid: str) -> int | None:
    """1-based place of ``call_sid`` in the queue as the ACD will serve it."""
    for place, caller in enumerate(queue_order(callers), start=1):
        if caller.call_sid == call_sid:
            return place
    return None


def match(callers: Sequence[Waiting], agents: Sequence[Idle]) -> list[tuple[Waiting, Idle]]:
    """Pair the first callers in queue order with the longest-idle agents."""
    ordered_agents = sorted(agents, key=lambda a: (a.idle_since, a.agent_id))
    return list(zip(queue_order(callers), ordered_agents, strict=False))
