"""The live bus's wire format and the hub's fan-out, without a database."""

from __future__ import annotations

import asyncio
import json

from hotline.services import live
from hotline.services.console import SessionUser
from hotline.web.console.live import visible


def test_payloads_stay_under_the_notification_limit_and_keep_every_event() -> None:
    events = [
        {"kind": "ticket", "number": f"AY20261126-{i:06d}", "departments": ["GOV-410502"] * 3}
        for i in range(500)
    ]
    payloads = live.encode(events)
    assert len(payloads) > 1
    assert all(len(p.encode()) <= live.MAX_PAYLOAD for p in payloads)
    decoded = [e for p in payloads for e in live.decode(p)]
    assert decoded == events


def test_unreadable_payloads_are_dropped() -> None:
    assert live.decode("not json") == []
    assert live.decode('{"kind": "resync"}') == [{"kind": "resync"}]
    assert live.decode("[1, {}]") == [{}]


async def test_the_hub_fans_out_and_a_slow_subscriber_is_told_to_resync() -> None:
    hub = live.Hub()
    with hub.subscribe() as fast, hub.subscribe() as slow:
        assert hub.subscribers == 2
        for i in range(live.MAX_QUEUE + 5):
            hub.deliver([{"kind": "ticket", "n": i}])
            if i < 3:
                batch = await asyncio.wait_for(fast.get(), 1)
                assert batch.events == [{"kind": "ticket", "n": i}]
                assert json.loads(batch.text) == {"events": batch.events}
        # the backlog is replaced by one resync, then events flow again
        assert (await slow.get()).events == [{"kind": "resync"}]
        assert (await slow.get()).events == [{"kind": "ticket", "n": live.MAX_QUEUE + 1}]
        assert slow.queue.qsize() == 3
    assert hub.subscribers == 0
    hub.deliver_payload(json.dumps([{"kind": "call"}]))
    assert hub.delivered == live.MAX_QUEUE + 6


def _user(role: str, department: str | None = None) -> SessionUser:
    return SessionUser("s", 1, "u", "U", role, department, expires_at=None)  # type: ignore[arg-type]


def test_a_unit_hears_only_of_its_own_tickets() -> None:
    ticket = {"kind": "ticket", "number": "AY1", "departments": ["GSGS", "GOV-410502"]}
    call = {"kind": "call", "call_sid": "CA1"}
    assert visible(_user("department", "GSGS"), ticket)
    assert not visible(_user("department", "CGJ"), ticket)
    assert not visible(_user("department", "GSGS"), call)
    assert visible(_user("department", "CGJ"), {"kind": "resync"})
    assert visible(_user("agent"), call) and visible(_user("supervisor"), ticket)
