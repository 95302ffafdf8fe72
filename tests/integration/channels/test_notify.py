"""Notifications are queued in the transaction of the change that causes them (条例第五十条)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from channels.sms import set_opt_out
from dispatch.service import decide_extension, dispatch_to
from hotline.clock import FixedClock
from hotline.domain.intake import IntakeValue
from hotline.domain.lifecycle import (
    SYSTEM,
    Close,
    Reply,
    RequestExtension,
    Sign,
    StartCallback,
    Suspend,
)
from hotline.domain.vocabulary import Channel, TicketType
from hotline.services.context import Context
from hotline.services.intake import take_in
from hotline.services.tickets import perform
from hotline.storage.outbox import OutboxMessage
from tests.factories import SUPERVISOR, dept
from tests.integration.channels.support import CITIZEN


async def outbox(ctx: Context) -> list[OutboxMessage]:
    async with ctx.db.sessions() as session:
        return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


async def ticket(
    ctx: Context, channel: Channel = Channel.PHONE, phone: str | None = CITIZEN, **kw: object
) -> str:
    result = await take_in(
        ctx,
        IntakeValue(
            channel=channel,
            channel_ref=f"ref-{channel.value}-{kw.pop('ref', 1)}",
            received_at=ctx.clock.now(),
            content="北关区洹北街道路灯一周不亮",
            type=TicketType.COMPLAINT,
            category="municipal",
            division="410503",
            phone=phone,
            **kw,  # type: ignore[arg-type]
        ),
    )
    return result.number


async def handled(ctx: Context, number: str) -> None:
    await dispatch_to(ctx, number, "CGJ", SYSTEM, co_handlers=["GOV-410503"])
    await perform(ctx, number, Sign("CGJ"), dept("CGJ"))


async def test_accepted_sms_for_a_phone_ticket(ctx: Context) -> None:
    number = await ticket(ctx)
    (m,) = await outbox(ctx)
    assert (m.kind, m.purpose, m.recipient, m.key) == (
        "sms",
        "accepted",
        CITIZEN,
        f"sms:accepted:{number}",
    )
    assert m.body.startswith("【安阳12345】") and number in m.body and "12345电话" in m.body
    assert m.ticket_id is not None and m.citizen_id is not None


async def test_no_accepted_sms_where_the_reply_already_gave_the_number(ctx: Context) -> None:
    await ticket(ctx, Channel.SMS)
    await ticket(ctx, Channel.PHONE, phone=None, ref=2)
    assert await outbox(ctx) == []


async def test_reply_extension_and_suspension_reach_the_citizen(
    ctx: Context, clock: FixedClock
) -> None:
    number = await ticket(ctx)
    await handled(ctx, number)
    await perform(ctx, number, Sign("GOV-410503"), dept("GOV-410503"))
    await perform(ctx, number, Reply("GOV-410503", "协办意见", True), dept("GOV-410503"))
    await perform(
        ctx,
        number,
        RequestExtension("ext-1", "CGJ", "需协调供电部门更换线路", "王主任"),
        dept("CGJ"),
    )
    await decide_extension(ctx, "ext-1", True, SUPERVISOR, "同意")
    await perform(
        ctx,
        number,
        Suspend("CGJ", "已报修供电公司", "纳入线路改造计划", clock.now() + timedelta(days=30)),
        dept("CGJ"),
    )
    await perform(ctx, number, Reply("CGJ", "路灯已修复，恢复照明。", True), dept("CGJ"))
    messages = [m for m in await outbox(ctx) if m.purpose != "accepted"]
    assert [m.purpose for m in messages] == [
        "extension",
        "suspended",
        "replied",
        "rating_invitation",
    ]
    extension, suspended, replied, invitation = (m.body for m in messages)
    assert "1非常满意" in invitation
    assert "需协调供电部门更换线路" in extension and "2026年12月10日" in extension
    assert "已报修供电公司" in suspended and "纳入线路改造计划" in suspended
    assert "2026年12月26日" in suspended
    assert "路灯已修复，恢复照明。" in replied and number in replied
    assert all(m.recipient == CITIZEN for m in messages)
    # the notices by SMS; the rating, for a ticket that came by phone, on a survey call back
    assert [m.kind for m in messages] == ["sms", "sms", "sms", "survey_call"]


async def test_opted_out_citizen_gets_no_notification(ctx: Context) -> None:
    await set_opt_out(ctx, CITIZEN, opted_out=True)
    number = await ticket(ctx)
    await handled(ctx, number)
    await perform(ctx, number, Reply("CGJ", "已修复", True), dept("CGJ"))
    assert [m.kind for m in await outbox(ctx)] == ["survey_call"]  # 退订 stops SMS only


async def test_wechat_citizen_is_told_on_wechat(ctx: Context) -> None:
    result = await take_in(
        ctx,
        IntakeValue(
            channel=Channel.WECHAT,
            channel_ref="oOPENID:123",
            received_at=ctx.clock.now(),
            content="小区门口井盖丢失",
            category="municipal",
            division="410503",
            payload={"FromUserName": "oOPENID", "MsgId": "123"},
        ),
    )
    await handled(ctx, result.number)
    await perform(ctx, result.number, Reply("CGJ", "井盖已补装", True), dept("CGJ"))
    m, invitation = await outbox(ctx)
    assert (m.kind, m.recipient, m.purpose) == ("wechat", "oOPENID", "replied")
    assert "井盖已补装" in m.body and not m.body.startswith("【")
    assert (invitation.kind, invitation.recipient, invitation.purpose) == (
        "wechat",
        "oOPENID",
        "rating_invitation",
    )


async def test_platform_gets_results_when_replied_and_closed(ctx: Context) -> None:
    number = await ticket(
        ctx,
        Channel.PLATFORM,
        phone=None,
        payload={"platform": "gov-service", "external_id": "EXT-9"},
    )
    await handled(ctx, number)
    await perform(ctx, number, Reply("CGJ", "已处理完毕", True), dept("CGJ"))
    await perform(ctx, number, StartCallback(), SYSTEM)
    await perform(ctx, number, Close("回访满意"), SYSTEM)
    messages = await outbox(ctx)
    assert [(m.kind, m.recipient, m.purpose) for m in messages] == [
        ("platform", "gov-service", "callback_replied"),
        ("platform", "gov-service", "callback_closed"),
    ]
    replied, closed = (m.payload["document"] for m in messages)
    assert replied["external_id"] == "EXT-9" and replied["result"] == "已处理完毕"
    assert (replied["event"], replied["status"]) == ("replied", "replied")
    assert (closed["event"], closed["status"], closed["status_label"]) == (
        "closed",
        "closed",
        "已办结",
    )
    assert closed["at"].endswith("+08:00")
