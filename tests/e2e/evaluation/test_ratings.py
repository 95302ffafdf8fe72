"""好差评 end to end through the real channels' webhooks: reply → invitation → rating → bad
rating → rectification → return visit → closure, by SMS, WeChat and phone; appeals; expiry."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from channels.web import SENDERS
from hotline.clock import FixedClock
from hotline.services import ratings
from hotline.services.keys import create_key
from hotline.storage.evaluation import BadRatingReview, Rating, UnitFlag
from hotline.storage.outbox import OutboxMessage
from hotline.web.keys import CONTEXT
from tests.e2e.channels.test_wechat import OPENID, post_push, push_xml, reply_fields
from tests.e2e.evaluation.conftest import Client
from tests.integration.channels.support import signed_headers, sms_form
from tests.twilio_player import TwilioPlayer, call_form

ADMIN = {"Authorization": "Bearer test-admin-token"}


async def api(client: Client, method: str, path: str, who: dict[str, str], body: Any = None) -> Any:
    response = await client.request(method, path, json=body or {}, headers=who)
    text = await response.text()
    assert response.status < 300, (path, response.status, text)
    return json.loads(text)


async def unit(client: Client, code: str = "CGJ") -> dict[str, str]:
    key = await create_key(client.app[CONTEXT], department=code)
    return {"Authorization": f"Bearer {key}"}


async def handled(client: Client, number: str, cgj: dict[str, str], reply: str) -> None:
    """Dispatched to CGJ, signed and replied: the ticket is 已答复."""
    await api(client, "POST", f"/api/v1/tickets/{number}/dispatch", ADMIN, {"department": "CGJ"})
    await api(client, "POST", f"/api/v1/tickets/{number}/sign", cgj)
    await api(
        client,
        "POST",
        f"/api/v1/tickets/{number}/reply",
        cgj,
        {"content": reply, "contacted_citizen": True},
    )


async def sms(client: Client, body: str, sender: str = "+8613812345678") -> str:
    form = sms_form(body, sender=sender)
    response = await client.post(
        "/twilio/sms", data=form, headers=signed_headers("/twilio/sms", form)
    )
    assert response.status == 200
    return await response.text()


async def invitations(client: Client, kind: str) -> list[OutboxMessage]:
    async with client.app[CONTEXT].db.sessions() as session:
        return list(
            await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.purpose == "rating_invitation", OutboxMessage.kind == kind)
                .order_by(OutboxMessage.id)
            )
        )


async def status(client: Client, number: str) -> str:
    return str((await api(client, "GET", f"/api/v1/tickets/{number}", ADMIN))["status"])


async def test_sms_bad_rating_rectification_visit_and_closure(
    client: Client, clock: FixedClock
) -> None:
    accepted = await sms(client, "北关区洹北街道路灯一周不亮，晚上出门很危险")
    number = accepted.split("工单编号")[1][:17]
    cgj = await unit(client)
    await handled(client, number, cgj, "已更换路灯")
    sent = await invitations(client, "sms")
    assert len(sent) == 1 and sent[0].recipient == "+8613812345678"
    assert "1非常满意" in sent[0].body and "5非常不满意" in sent[0].body and number in sent[0].body

    answer = await sms(client, "5")  # a single digit rates the latest unrated reply
    assert "非常不满意" in answer and "整改" in answer
    assert await status(client, number) == "awaiting_callback"
    reviews = await api(client, "GET", "/api/v1/reviews", ADMIN)
    review = next(r for r in reviews["items"] if r["ticket"] == number)
    assert review["status"] == "pending" and review["department"] == "CGJ"

    decided = await api(
        client,
        "POST",
        f"/api/v1/reviews/{review['id']}/decision",
        ADMIN,
        {"rectify": True, "note": "路灯仍不亮，责成重办"},
    )
    assert decided["status"] == "rectify"
    ticket = await api(client, "GET", f"/api/v1/tickets/{number}", ADMIN)
    assert ticket["status"] == "dispatched" and ticket["reopen_count"] == 1
    redo = next(a for a in ticket["assignments"] if a["status"] == "dispatched")
    assert redo["department"] == "CGJ"
    assert redo["due_at"] == "2026-12-03T23:59:59+08:00"  # its own 5-working-day deadline

    clock.advance(timedelta(hours=3))
    await api(client, "POST", f"/api/v1/tickets/{number}/sign", cgj)
    await api(
        client,
        "POST",
        f"/api/v1/tickets/{number}/reply",
        cgj,
        {"content": "已更换整段线路，路灯恢复", "contacted_citizen": True},
    )
    assert len(await invitations(client, "sms")) == 2  # the new reply is rated again

    visit = await api(
        client,
        "POST",
        f"/api/v1/tickets/{number}/visits",
        ADMIN,
        {"reached": True, "reply_true": True, "level": 2, "note": "市民确认已修好"},
    )
    assert visit["outcome"] == "reached"
    assert await status(client, number) == "closed"
    record = await api(client, "GET", f"/api/v1/tickets/{number}/ratings", ADMIN)
    assert [(r["round"], r["rating"], r["channel"]) for r in record["ratings"]] == [
        (1, "非常不满意", "sms"),
        (2, "满意", "callback"),
    ]
    # a retried rating SMS (the same MessageSid) counts once
    async with client.app[CONTEXT].db.sessions() as session:
        assert len(list(await session.scalars(select(Rating)))) == 2


async def test_a_good_sms_rating_closes_and_a_retry_counts_once(client: Client) -> None:
    accepted = await sms(client, "文峰区东关街道小区门口垃圾没人清", sender="+8613900001111")
    number = accepted.split("工单编号")[1][:17]
    await handled(client, number, await unit(client), "已清运")
    form = sms_form("1", sender="+8613900001111")
    headers = signed_headers("/twilio/sms", form)
    first = await client.post("/twilio/sms", data=form, headers=headers)
    again = await client.post("/twilio/sms", data=form, headers=headers)
    assert await first.text() == await again.text()
    assert "非常满意" in await first.text()
    assert await status(client, number) == "closed"
    async with client.app[CONTEXT].db.sessions() as session:
        assert len(list(await session.scalars(select(Rating)))) == 1
    # with nothing left to rate, a digit is a message like any other (never lost)
    assert "工单编号" in await sms(client, "3", sender="+8613900001111")


async def test_wechat_rating_explanation_and_a_false_reply_flag(client: Client) -> None:
    status_code, body = await post_push(
        client, push_xml("text", Content="龙安区文明大道路面塌了个坑")
    )
    assert status_code == 200
    number = reply_fields(body)["Content"].split("工单编号")[1][:17]
    await handled(client, number, await unit(client), "已修补路面")
    sent = await invitations(client, "wechat")
    assert [m.recipient for m in sent] == [OPENID]
    status_code, body = await post_push(client, push_xml("text", Content="4"))
    assert "不满意" in reply_fields(body)["Content"]
    review = (await api(client, "GET", "/api/v1/reviews", ADMIN))["items"][0]
    await api(
        client,
        "POST",
        f"/api/v1/reviews/{review['id']}/decision",
        ADMIN,
        {"rectify": False, "note": "已向市民解释：塌陷属燃气管道施工，由施工方回填"},
    )
    await api(
        client,
        "POST",
        f"/api/v1/tickets/{number}/visits",
        ADMIN,
        {"reached": True, "reply_true": False, "level": 3, "note": "市民称坑仍未补"},
    )
    assert await status(client, number) == "closed"
    async with client.app[CONTEXT].db.sessions() as session:
        flags = list(await session.scalars(select(UnitFlag)))
    assert [(f.department_code, f.kind) for f in flags] == [("CGJ", "false_reply")]
    flagged = await api(client, "GET", "/api/v1/units/CGJ/flags", ADMIN)
    assert flagged["items"][0]["ticket"] == number


async def rectify(client: Client, number: str, cgj: dict[str, str], reply: str) -> None:
    """The centre decides 重办 on the pending bad rating; the unit handles it again."""
    reviews = await api(client, "GET", "/api/v1/reviews", ADMIN)
    review = next(r for r in reviews["items"] if r["ticket"] == number)
    await api(
        client,
        "POST",
        f"/api/v1/reviews/{review['id']}/decision",
        ADMIN,
        {"rectify": True, "note": "责成重办"},
    )
    await api(client, "POST", f"/api/v1/tickets/{number}/sign", cgj)
    await api(
        client,
        "POST",
        f"/api/v1/tickets/{number}/reply",
        cgj,
        {"content": reply, "contacted_citizen": True},
    )


async def test_wechat_bad_rating_rectification_and_a_new_rating(client: Client) -> None:
    _, body = await post_push(client, push_xml("text", Content="殷都区铁西路井盖松动，车一过就响"))
    number = reply_fields(body)["Content"].split("工单编号")[1][:17]
    cgj = await unit(client)
    await handled(client, number, cgj, "已派人查看")
    _, body = await post_push(client, push_xml("text", Content="5"))
    assert "非常不满意" in reply_fields(body)["Content"]
    assert await status(client, number) == "awaiting_callback"
    await rectify(client, number, cgj, "已更换井盖底座，不再松动")
    sent = await invitations(client, "wechat")
    assert [m.recipient for m in sent] == [OPENID, OPENID]  # the new reply is invited again
    _, body = await post_push(client, push_xml("text", Content="2"))
    assert "满意" in reply_fields(body)["Content"]
    assert await status(client, number) == "closed"
    record = await api(client, "GET", f"/api/v1/tickets/{number}/ratings", ADMIN)
    assert [(r["round"], r["rating"], r["channel"]) for r in record["ratings"]] == [
        (1, "非常不满意", "wechat"),
        (2, "满意", "wechat"),
    ]


async def survey(player: TwilioPlayer, invitation: object, call_sid: str, digit: str) -> None:
    """Twilio places the survey call; the citizen presses ``digit``."""
    ask = await player.post(
        f"/twilio/voice/survey?invitation={invitation}",
        call_form(call_sid, Direction="outbound-api"),
    )
    gather = ask.first("Gather")
    done = await player.post(gather.get("action") or "", call_form(call_sid, Digits=digit))
    assert done.verbs() == ["Say", "Hangup"]


async def test_phone_bad_rating_rectification_and_a_new_survey_call(client: Client) -> None:
    player = TwilioPlayer(client)
    await player.post("/twilio/voice", call_form("CA-bad", From="+863722456789"))
    made = await api(
        client,
        "POST",
        "/api/v1/tickets",
        ADMIN,
        {
            "type": "投诉",
            "content": "楼下饭店油烟扰民",
            "call_sid": "CA-bad",
            "phone": "+863722456789",
        },
    )
    number = made["number"]
    cgj = await unit(client)
    await handled(client, number, cgj, "已责令安装油烟净化器")
    first = await invitations(client, "survey_call")
    await survey(player, first[0].payload["invitation"], "CA-survey-1", "4")
    assert await status(client, number) == "awaiting_callback"
    await rectify(client, number, cgj, "净化器已安装并检测合格")
    second = await invitations(client, "survey_call")
    assert len(second) == 2 and second[1].recipient == "+863722456789"
    await survey(player, second[1].payload["invitation"], "CA-survey-2", "1")
    assert await status(client, number) == "closed"
    record = await api(client, "GET", f"/api/v1/tickets/{number}/ratings", ADMIN)
    assert [(r["round"], r["rating"], r["channel"]) for r in record["ratings"]] == [
        (1, "不满意", "phone"),
        (2, "非常满意", "phone"),
    ]


async def test_phone_survey_call_for_a_landline(client: Client) -> None:
    player = TwilioPlayer(client)
    await player.post("/twilio/voice", call_form("CA-rate", From="+863722345678"))
    made = await api(
        client,
        "POST",
        "/api/v1/tickets",
        ADMIN,
        {
            "type": "求助",
            "content": "家门口下水道堵了",
            "call_sid": "CA-rate",
            "phone": "+863722345678",
        },
    )
    number = made["number"]
    await handled(client, number, await unit(client), "已疏通")
    calls = await invitations(client, "survey_call")
    assert [m.recipient for m in calls] == ["+863722345678"]
    invitation = calls[0].payload["invitation"]
    ask = await player.post(
        f"/twilio/voice/survey?invitation={invitation}",
        call_form("CA-survey", Direction="outbound-api"),
    )
    gather = ask.first("Gather")
    assert "请按1" in (gather.find("Say").text or "")  # type: ignore[union-attr]
    done = await player.post(gather.get("action") or "", call_form("CA-survey", Digits="2"))
    assert done.verbs() == ["Say", "Hangup"]
    record = await api(client, "GET", f"/api/v1/tickets/{number}/ratings", ADMIN)
    assert [(r["rating"], r["channel"]) for r in record["ratings"]] == [("满意", "phone")]
    assert await status(client, number) == "closed"


async def test_a_caller_on_a_mobile_is_asked_by_phone_too(client: Client) -> None:
    """The channel they used: a phone call is rated on a call back, not by SMS."""
    made = await api(
        client,
        "POST",
        "/api/v1/tickets",
        ADMIN,
        {"type": "求助", "content": "小区停电", "channel": "phone", "phone": "13812340000"},
    )
    await handled(client, made["number"], await unit(client), "已恢复供电")
    assert [m.recipient for m in await invitations(client, "survey_call")] == ["+8613812340000"]
    assert await invitations(client, "sms") == []


async def test_an_unanswered_invitation_is_sent_once_more_then_closes_unrated(
    client: Client, clock: FixedClock
) -> None:
    accepted = await sms(client, "殷都区水冶街道自来水发黄", sender="+8613900002222")
    number = accepted.split("工单编号")[1][:17]
    await handled(client, number, await unit(client), "已冲洗管网")
    ctx = client.app[CONTEXT]
    clock.advance(timedelta(hours=25))
    report = await ratings.sweep(ctx)
    assert report.resent == [number]
    assert len(await invitations(client, "sms")) == 2
    clock.advance(timedelta(hours=12))
    assert (await ratings.sweep(ctx)).resent == []  # once only
    clock.advance(timedelta(hours=40))
    assert (await ratings.sweep(ctx)).expired == [number]
    assert await status(client, number) == "closed"
    async with ctx.db.sessions() as session:
        assert list(await session.scalars(select(Rating))) == []  # no default "satisfied"


async def test_real_name_bad_rating_contact_and_appeal(client: Client, clock: FixedClock) -> None:
    made = await api(
        client,
        "POST",
        "/api/v1/tickets",
        ADMIN,
        {
            "type": "投诉",
            "content": "供暖不热",
            "phone": "+8613900003333",
            "name": "李女士",
            "real_name": True,
        },
    )
    number = made["number"]
    cgj = await unit(client)
    await handled(client, number, cgj, "已排气")
    await sms(client, "5", sender="+8613900003333")
    ctx = client.app[CONTEXT]
    async with ctx.db.sessions() as session:
        review = (await session.scalars(select(BadRatingReview))).one()
        rating = (await session.scalars(select(Rating))).one()
    assert rating.real_name
    assert review.contact_due_at is not None
    assert review.contact_due_at.isoformat().startswith("2026-11-27T15:59:59")  # 1 working day
    clock.advance(timedelta(days=2))
    assert (await ratings.sweep(ctx)).flagged == ["CGJ"]
    assert (await ratings.sweep(ctx)).flagged == []  # flagged once
    contacted = await api(
        client,
        "POST",
        f"/api/v1/reviews/{review.id}/contact",
        cgj,
        {"note": "已电话联系李女士，约定明日上门"},
    )
    assert contacted["contacted_at"] is not None
    appealed = await api(
        client,
        "POST",
        f"/api/v1/ratings/{rating.id}/appeal",
        cgj,
        {"reason": "市民对供暖收费不满，与本次答复无关"},
    )
    other = await unit(client, "GSGS")
    response = await client.post(
        f"/api/v1/ratings/{rating.id}/appeal", json={"reason": "x"}, headers=other
    )
    assert response.status == 404  # a unit appeals only ratings of its own replies
    await api(
        client,
        "POST",
        f"/api/v1/appeals/{appealed['id']}/decision",
        ADMIN,
        {"uphold": True, "note": "评价针对收费政策，非办理质量"},
    )
    async with ctx.db.sessions() as session:
        assert (await session.get(Rating, rating.id)).void  # type: ignore[union-attr]


@pytest.mark.parametrize("level", ["0", "6", "x"])
async def test_the_mailbox_rating_is_validated(client: Client, level: str) -> None:
    response = await client.post(
        "/api/v1/public/tickets/AY20261126-000001/rating?code=nope", json={"level": level}
    )
    assert response.status in (404, 422)
    assert SENDERS  # the outbox's senders are registered on the app
