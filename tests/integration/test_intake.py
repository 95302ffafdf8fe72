"""The intake service: one transaction, idempotent per channel id, nothing dropped."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dispatch.service import dispatch_to
from hotline.bootstrap import bootstrap
from hotline.clock import FixedClock
from hotline.config import Settings
from hotline.domain.errors import Conflict
from hotline.domain.intake import IntakeValue
from hotline.domain.lifecycle import SYSTEM, Close, Reply, Sign
from hotline.domain.vocabulary import Channel, Status, TicketType
from hotline.services.context import Context
from hotline.services.hooks import IntakeHook
from hotline.services.intake import take_in
from hotline.services.queries import get_ticket
from hotline.services.tickets import perform
from hotline.storage.citizens import Citizen, Contact
from hotline.storage.tickets import Ticket, TicketEvent
from tests.conftest import make_settings
from tests.factories import dept


def sms(ctx: Context, ref: str, text: str = "东关街道路灯不亮", **kw: object) -> IntakeValue:
    fields: dict[str, object] = {
        "channel": Channel.SMS,
        "channel_ref": ref,
        "received_at": ctx.clock.now(),
        "content": text,
        "type": TicketType.COMPLAINT,
        "phone": "13812345678",
        "payload": {"MessageSid": ref, "Body": text},
    }
    fields.update(kw)
    return IntakeValue(**fields)  # type: ignore[arg-type]


async def count(ctx: Context, model: type) -> int:
    async with ctx.db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_contact_becomes_a_ticket_with_its_first_event(ctx: Context) -> None:
    result = await take_in(ctx, sms(ctx, "SM1", division="410502", category="municipal"))
    assert result.created
    assert result.number == "AY20261126-000001"
    assert result.status == "received"
    view = await get_ticket(ctx, result.number)
    assert view.ticket.division_code == "410502"
    assert view.citizen is not None and view.citizen.phone == "+8613812345678"
    assert [e.action for e in view.events] == ["received"]
    assert view.events[0].data["channel"] == "sms"
    async with ctx.db.sessions() as session:
        contact = (await session.scalars(select(Contact))).one()
    assert contact.payload["Body"] == "东关街道路灯不亮"
    assert contact.ticket_id == result.ticket_id


async def test_retries_return_the_first_result(ctx: Context) -> None:
    first = await take_in(ctx, sms(ctx, "SM-retry"))
    again = await take_in(ctx, sms(ctx, "SM-retry"))
    assert not again.created
    assert (again.number, again.contact_id) == (first.number, first.contact_id)
    assert await count(ctx, Ticket) == 1
    assert await count(ctx, Contact) == 1
    assert await count(ctx, TicketEvent) == 1


async def test_concurrent_deliveries_of_one_message_make_one_ticket(ctx: Context) -> None:
    results = await asyncio.gather(*(take_in(ctx, sms(ctx, "SM-storm")) for _ in range(12)))
    assert {r.number for r in results} == {results[0].number}
    assert sum(r.created for r in results) == 1
    assert await count(ctx, Ticket) == 1
    assert await count(ctx, Contact) == 1


async def test_two_instances_taking_one_message_at_once_make_one_ticket(
    ctx: Context, settings: Settings, clock: FixedClock
) -> None:
    """Two app instances on one database (each its own writer): a message delivered to both at
    once (a carrier's retry) is one ticket. On PostgreSQL both batches may find nothing, and the
    second's insert then waits for the first's commit and fails on the unique key; that batch is
    retried contact by contact and answers with what the first made."""
    other = bootstrap(settings, clock=clock)
    try:
        for n in range(5):
            value = sms(ctx, f"SM-twice-{n}")
            here, there = await asyncio.gather(take_in(ctx, value), take_in(other, value))
            assert here.number == there.number
            assert here.contact_id == there.contact_id
            assert sorted([here.created, there.created]) == [False, True]
        assert await count(ctx, Ticket) == 5
        assert await count(ctx, Contact) == 5
    finally:
        await other.db.dispose()


async def test_a_caller_that_goes_away_does_not_lose_its_contact(ctx: Context) -> None:
    """A dropped HTTP request cancels its caller; what the citizen sent is still written."""
    await ctx.reference.get()  # cached: take_in goes straight to the queue
    callers = [asyncio.create_task(take_in(ctx, sms(ctx, f"SM-gone-{i}"))) for i in range(6)]
    await asyncio.sleep(0)  # all six queued for the group commit, none answered yet
    assert not any(task.done() for task in callers)
    for task in callers[::2]:
        task.cancel()
    done = await asyncio.gather(*callers, return_exceptions=True)
    assert [isinstance(d, asyncio.CancelledError) for d in done] == [True, False] * 3
    for _ in range(100):
        if await count(ctx, Contact) == 6:
            break
        await asyncio.sleep(0.01)
    assert await count(ctx, Contact) == 6
    assert await count(ctx, Ticket) == 6
    again = await take_in(ctx, sms(ctx, "SM-gone-0"))  # the carrier's retry finds it
    assert not again.created


async def test_same_id_with_different_content_is_a_conflict(ctx: Context) -> None:
    await take_in(ctx, sms(ctx, "SM-x", "第一条"))
    with pytest.raises(Conflict):
        await take_in(ctx, sms(ctx, "SM-x", "完全不同的内容"))


async def test_the_same_id_on_another_channel_is_another_contact(ctx: Context) -> None:
    a = await take_in(ctx, sms(ctx, "42"))
    b = await take_in(ctx, replace(sms(ctx, "42"), channel=Channel.WECHAT))
    assert a.number != b.number


async def test_concurrent_contacts_get_distinct_consecutive_numbers(ctx: Context) -> None:
    results = await asyncio.gather(*(take_in(ctx, sms(ctx, f"SM-{i}")) for i in range(25)))
    numbers = sorted(r.number for r in results)
    assert numbers == [f"AY20261126-{i:06d}" for i in range(1, 26)]


async def test_numbers_restart_each_shanghai_day(ctx: Context, clock: FixedClock) -> None:
    await take_in(ctx, sms(ctx, "d1"))
    clock.advance(timedelta(hours=14))  # 00:00 on 27 November in Shanghai
    second = await take_in(ctx, sms(ctx, "d2"))
    assert second.number == "AY20261127-000001"


async def test_what_cannot_be_used_is_kept_for_triage(ctx: Context) -> None:
    value = sms(
        ctx,
        "SM-bad",
        "",
        phone="电话打不通就发短信",
        type=None,
        division="419999",
        category="no-such-category",
        street="410502-没有这条街",
        latitude=123.0,
        longitude=45.0,
    )
    result = await take_in(ctx, value)
    assert set(result.triage_reasons) == {
        "phone_unparsed",
        "type_missing",
        "content_empty",
        "division_unknown:419999",
        "category_unknown:no-such-category",
        "street_unknown:410502-没有这条街",
        "location_invalid",
    }
    view = await get_ticket(ctx, result.number)
    assert view.ticket.division_code is None
    assert view.citizen is not None
    assert view.citizen.phone is None
    assert view.citizen.phone_raw == "电话打不通就发短信"
    async with ctx.db.sessions() as session:
        contact = (await session.scalars(select(Contact))).one()
    assert contact.payload["phone"] == "电话打不通就发短信"


async def test_a_street_implies_its_division(ctx: Context) -> None:
    result = await take_in(ctx, sms(ctx, "SM-st", street="410503-豆腐营街道"))
    view = await get_ticket(ctx, result.number)
    assert (view.ticket.division_code, view.ticket.street_code) == ("410503", "410503-豆腐营街道")
    mismatch = await take_in(ctx, sms(ctx, "SM-st2", division="410502", street="410503-豆腐营街道"))
    assert mismatch.triage_reasons == ("street_not_in_division:410503-豆腐营街道",)


async def test_a_citizen_is_recognised_by_phone(ctx: Context) -> None:
    await take_in(ctx, sms(ctx, "p1", phone="138 1234 5678"))
    await take_in(ctx, sms(ctx, "p2", phone="+8613812345678", name="王女士", real_name=True))
    async with ctx.db.sessions() as session:
        citizens = (await session.scalars(select(Citizen))).all()
    assert len(citizens) == 1
    assert (citizens[0].name, citizens[0].real_name) == ("王女士", True)


async def test_a_follow_up_attaches_to_the_open_ticket(ctx: Context) -> None:
    first = await take_in(ctx, sms(ctx, "f1"))
    follow = await take_in(ctx, sms(ctx, "f2", "补充：已经三天了", attach_to=first.number))
    assert follow.attached and follow.number == first.number
    view = await get_ticket(ctx, first.number)
    assert view.ticket.repeat_count == 1
    assert [e.action for e in view.events] == ["received", "contact_attached"]
    again = await take_in(ctx, sms(ctx, "f2", "补充：已经三天了", attach_to=first.number))
    assert not again.created
    assert (await get_ticket(ctx, first.number)).ticket.repeat_count == 1


async def test_a_follow_up_to_a_finished_ticket_opens_a_new_one(ctx: Context) -> None:
    first = await take_in(ctx, sms(ctx, "c1", category="municipal"))
    await dispatch_to(ctx, first.number, "CGJ", SYSTEM)
    await perform(ctx, first.number, Sign("CGJ"), dept("CGJ"))
    await perform(ctx, first.number, Reply("CGJ", "已修复", True), dept("CGJ"))
    await perform(ctx, first.number, Close(), SYSTEM)
    later = await take_in(ctx, sms(ctx, "c2", "又坏了", attach_to=first.number))
    assert later.created and not later.attached
    assert later.number != first.number
    assert (await get_ticket(ctx, first.number)).ticket.status == Status.CLOSED.value


async def test_under_load_a_batch_waits_a_moment_to_gather_more(
    database_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    """``database.group_commit_delay_ms``: on SQLite, after a batch of several contacts the
    next waits for company before it writes; after a contact that came alone the next is
    written at once. On PostgreSQL contacts queue during a batch's round trips: no wait."""
    settings = make_settings(database_url, tmp_path, database={"group_commit_delay_ms": 300})
    ctx = bootstrap(settings, clock=clock)
    try:
        sizes: list[int] = []
        ctx.hooks.on_intake.append(IntakeHook(lambda _session, tickets: sizes.append(len(tickets))))
        await ctx.reference.get()
        await take_in(ctx, sms(ctx, "G-alone-1"))
        started = time.perf_counter()
        await take_in(ctx, sms(ctx, "G-alone-2"))
        assert time.perf_counter() - started < 0.25  # no wait after a batch of one
        await asyncio.gather(take_in(ctx, sms(ctx, "G-a1")), take_in(ctx, sms(ctx, "G-a2")))
        first = asyncio.ensure_future(take_in(ctx, sms(ctx, "G-b1")))
        if not ctx.db.writes_on_loop:
            started = time.perf_counter()
            await first
            assert time.perf_counter() - started < 0.25
            assert sizes == [1, 1, 2, 1]
            return
        await asyncio.sleep(0.02)
        assert not first.done()  # waiting for company after a batch of two
        second = await take_in(ctx, sms(ctx, "G-b2"))
        assert (await first).number < second.number
        assert sizes == [1, 1, 2, 2]
    finally:
        await ctx.db.dispose()
