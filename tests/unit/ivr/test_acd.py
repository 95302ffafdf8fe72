"""The ACD's rules: queue order, positions, longest-idle agent first."""

from __future__ import annotations

from datetime import timedelta

from ivr import acd
from tests.factories import T0


def w(sid: str, priority: int, seconds: int) -> acd.Waiting:
    return acd.Waiting(sid, priority, T0 + timedelta(seconds=seconds))


def test_priority_reasons_add_up() -> None:
    assert acd.caller_priority(needs_assistance=False, repeat_call=False) == (0, [])
    p, reasons = acd.caller_priority(needs_assistance=True, repeat_call=True)
    assert p == acd.PRIORITY_ASSISTANCE + acd.PRIORITY_REPEAT
    assert reasons == ["elderly_or_disabled", "repeat_caller"]
    first, _ = acd.caller_priority(needs_assistance=False, repeat_call=False, emergency_failed=True)
    assert first > p


def test_queue_order_is_priority_then_arrival() -> None:
    callers = [w("late-vip", 20, 30), w("early", 0, 0), w("later", 0, 10), w("repeat", 10, 50)]
    assert [c.call_sid for c in acd.queue_order(callers)] == [
        "late-vip",
        "repeat",
        "early",
        "later",
    ]
    assert acd.position(callers, "early") == 3
    assert acd.position(callers, "nobody") is None


def test_longest_idle_agent_takes_the_first_caller() -> None:
    callers = [w("a", 0, 0), w("b", 5, 20)]
    agents = [
        acd.Idle(1, T0 + timedelta(minutes=5)),
        acd.Idle(2, T0),
        acd.Idle(3, T0 + timedelta(1)),
    ]
    pairs = acd.match(callers, agents)
    assert [(c.call_sid, a.agent_id) for c, a in pairs] == [("b", 2), ("a", 1)]
    assert acd.match(callers, []) == []
    assert acd.match([], agents) == []
