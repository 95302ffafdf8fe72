"""The lifecycle service on the real database: projections, history, clocks, concurrency."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from dispatch.service import decide_extension, dispatch_to
from hotline.calendar import SHANGHAI
from hotline.clock import FixedClock
from hotline.domain.errors import Conflict, IllegalTransition, InvalidField, NotFound
from hotline.domain.intake import IntakeValue
from hotline.domain.lifecycle import (
    SYSTEM,
    DecideReturn,
    Progress,
    Reply,
    RequestExtension,
    RequestReturn,
    Sign,
    Supervise,
    Suspend,
    replay,
)
from hotline.domain.vocabulary import Channel, Status, TicketType
from hotline.services.context import Context
from hotline.services.history import event_from_row
from hotline.services.intake import take_in
from hotline.services.queries import get_ticket
from hotline.services.tickets import merge, perform, read_state
from hotline.storage.tickets import ExtensionRequest, ReturnRequest
from tests.factories import SUPERVISOR, dept


async def new_ticket(ctx: Context, ref: str = "t1", category: str = "municipal") -> str:
    result = await take_in(
        ctx,
        IntakeValue(
            channel=Channel.PHONE,
            channel_ref=ref,
            received_at=ctx.clock.now(),
            content="北关区洹北街道路灯一周不亮",
            type=TicketType.COMPLAINT,
            category=category,
            division="410503",
        ),
    )
    return result.number


async def stored_history_replays(ctx: Context, number: str) -> None:
    """The stored events, replayed, give exactly the stored projections."""
    view = await get_ticket(ctx, number)
    events = [event_from_row(e) for e in view.events]
    assert [e.seq for e in view.events] == list(range(1, len(events) + 1))
    assert replay(events) == await read_state(ctx, number)


async def test_dispatch_sign_progress_reply(ctx: Context, clock: FixedClock) -> None:
    number = await new_ticket(ctx)
    await dispatch_to(ctx, number, "CGJ", SYSTEM, co_handlers=["GOV-410503"], rule="urban:CGJ")
    view = await get_ticket(ctx, number)
    lead = next(a for a in view.assignments if a.role == "lead")
    # Thursday 26 Nov 10:00 + 5 working days → Thursday 3 Dec, 23:59:59 Shanghai
    assert lead.due_at == datetime(2026, 12, 3, 23, 59, 59, tzinfo=SHANGHAI)
    assert lead.return_due_at == clock.now() + timedelta(hours=24)
    assert view.ticket.due_at == lead.due_at
    clock.advance(timedelta(minutes=30))
    await perform(ctx, number, Sign("CGJ"), dept("CGJ"))
    await perform(ctx, number, Progress("CGJ", "已派维修班组"), dept("CGJ"))
    await perform(ctx, number, Reply("CGJ", "路灯已更换灯泡", True), dept("CGJ"))
    view = await get_ticket(ctx, number)
    lead = next(a for a in view.assignments if a.role == "lead")
    assert view.ticket.status == Status.REPLIED.value
    assert (lead.status, lead.reply_content, lead.contacted_citizen) == (
        "replied",
        "路灯已更换灯泡",
        True,
    )
    assert lead.signed_at == clock.now()
    assert view.ticket.due_at is None  # no unit holds it any more
    assert [e.action for e in view.events] == [
        "received",
        "dispatched",
        "signed",
        "progress",
        "replied",
    ]
    await stored_history_replays(ctx, number)


async def test_extension_is_decided_on_the_calendar(ctx: Context) -> None:
    number = await new_ticket(ctx)
    await dispatch_to(ctx, number, "CGJ", SYSTEM)
    await perform(ctx, number, Sign("CGJ"), dept("CGJ"))
    await perform(
        ctx, number, RequestExtension("ext-1", "CGJ", "需更换电缆", "李局长"), dept("CGJ")
    )
    async with ctx.db.sessions() as session:
        ext = (await session.scalars(select(ExtensionRequest))).one()
    assert (ext.status, ext.approved_by) == ("pending", "李局长")
    await decide_extension(ctx, "ext-1", True, SUPERVISOR, "同意")
    view = await get_ticket(ctx, number)
    # 3 Dec + 5 working days → 10 Dec
    assert view.ticket.due_at == datetime(2026, 12, 10, 23, 59, 59, tzinfo=SHANGHAI)
    async with ctx.db.sessions() as session:
        ext = (await session.scalars(select(ExtensionRequest))).one()
    assert ext.status == "approved"
    assert ext.new_due_at == view.ticket.due_at
    with pytest.raises(IllegalTransition, match="已处理"):  # decided once: a 409, not a 404
        await decide_extension(ctx, "ext-1", True, SUPERVISOR, None)
    with pytest.raises(NotFound):
        await decide_extension(ctx, "ext-nope", True, SUPERVISOR, None)
    await stored_history_replays(ctx, number)


async def test_return_is_reviewed_and_redispatched(ctx: Context, clock: FixedClock) -> None:
    number = await new_ticket(ctx, category="water")
    await dispatch_to(ctx, number, "CGJ", SYSTEM)
    clock.advance(timedelta(hours=3))
    await perform(ctx, number, RequestReturn("ret-1", "CGJ", "属供水公司职责"), dept("CGJ"))
    async with ctx.db.sessions() as session:
        ret = (await session.scalars(select(ReturnRequest))).one()
    assert (ret.status, ret.department_code) == ("pending", "CGJ")
    assert (await read_state(ctx, number)).status is Status.RETURNED
    await perform(ctx, number, DecideReturn("ret-1", approve=True, note="改派供水"), SUPERVISOR)
    assert (await read_state(ctx, number)).status is Status.AWAITING_DISPATCH
    clock.advance(timedelta(hours=1))
    await dispatch_to(ctx, number, "GSGS", SYSTEM)
    view = await get_ticket(ctx, number)
    gsgs = next(a for a in view.assignments if a.department_code == "GSGS")
    assert gsgs.dispatched_at == clock.now()  # a fresh clock
    assert {a.status for a in view.assignments if a.department_code == "CGJ"} == {"returned"}
    await stored_history_replays(ctx, number)


async def test_return_after_24_hours_is_refused(ctx: Context, clock: FixedClock) -> None:
    number = await new_ticket(ctx)
    await dispatch_to(ctx, number, "CGJ", SYSTEM)
    clock.advance(timedelta(hours=24, seconds=1))
    with pytest.raises(IllegalTransition) as info:
        await perform(ctx, number, RequestReturn("r", "CGJ", "非本单位"), dept("CGJ"))
    assert info.value.code == "return_window_passed"
    assert len((await get_ticket(ctx, number)).events) == 2  # nothing written


async def test_suspension_is_stored_and_replayed(ctx: Context, clock: FixedClock) -> None:
    number = await new_ticket(ctx)
    await dispatch_to(ctx, number, "CGJ", SYSTEM)
    await perform(ctx, number, Sign("CGJ"), dept("CGJ"))
    expected = clock.now() + timedelta(days=45)
    await perform(ctx, number, Suspend("CGJ", "已立项", "年底前改造", expected), dept("CGJ"))
    view = await get_ticket(ctx, number)
    assert view.ticket.status == "suspended"
    assert view.ticket.suspension is not None
    assert view.ticket.suspension["measures"] == "年底前改造"
    await stored_history_replays(ctx, number)


async def test_unknown_department_and_ticket(ctx: Context) -> None:
    number = await new_ticket(ctx)
    with pytest.raises(InvalidField):
        await dispatch_to(ctx, number, "NO-SUCH-UNIT", SYSTEM)
    with pytest.raises(NotFound):
        await perform(ctx, "AY20261126-999999", Supervise("x"), SUPERVISOR)


async def test_a_stale_version_is_a_conflict(ctx: Context) -> None:
    number = await new_ticket(ctx)
    await dispatch_to(ctx, number, "CGJ", SYSTEM)
    with pytest.raises(Conflict):
        await perform(ctx, number, Supervise("快"), SUPERVISOR, expected_version=1)
    await perform(ctx, number, Supervise("快"), SUPERVISOR, expected_version=2)


async def test_concurrent_changes_never_overwrite_each_other(ctx: Context) -> None:
    number = await new_ticket(ctx)
    await dispatch_to(ctx, number, "CGJ", SYSTEM)

    async def attempt(note: str) -> str:
        try:
            await perform(ctx, number, Supervise(note), SUPERVISOR, expected_version=2)
        except Conflict:
            return "conflict"
        return "ok"

    outcomes = await asyncio.gather(*(attempt(f"督办{i}") for i in range(6)))
    assert outcomes.count("ok") == 1
    view = await get_ticket(ctx, number)
    assert view.ticket.supervision_level == 1
    assert view.ticket.version == 3
    await stored_history_replays(ctx, number)


async def test_concurrent_department_actions_keep_the_history_consistent(ctx: Context) -> None:
    number = await new_ticket(ctx)
    await dispatch_to(ctx, number, "CGJ", SYSTEM)
    await perform(ctx, number, Sign("CGJ"), dept("CGJ"))

    async def note(i: int) -> str:
        try:
            await perform(ctx, number, Progress("CGJ", f"进展{i}"), dept("CGJ"))
        except Conflict:
            return "conflict"
        return "ok"

    outcomes = await asyncio.gather(*(note(i) for i in range(8)))
    view = await get_ticket(ctx, number)
    assert len(view.events) == 3 + outcomes.count("ok")
    await stored_history_replays(ctx, number)


async def test_merge_folds_a_duplicate_into_the_open_ticket(ctx: Context) -> None:
    original = await new_ticket(ctx, "m1")
    await dispatch_to(ctx, original, "CGJ", SYSTEM)
    duplicate = await new_ticket(ctx, "m2")
    due_before = (await get_ticket(ctx, original)).ticket.due_at
    await merge(ctx, duplicate, original, SUPERVISOR)
    dup = await get_ticket(ctx, duplicate)
    orig = await get_ticket(ctx, original)
    assert dup.ticket.status == "merged" and dup.merged_into == original
    assert orig.ticket.repeat_count == 1
    assert orig.ticket.due_at == due_before  # the clock is not restarted
    assert orig.events[-1].data["merged_from"] == duplicate
    await stored_history_replays(ctx, duplicate)
    await stored_history_replays(ctx, original)
    with pytest.raises(IllegalTransition):
        await merge(ctx, original, duplicate, SUPERVISOR)
