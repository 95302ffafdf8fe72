"""A direct answer (直接答复) reaches the citizen and is rated like a unit's reply: by SMS for a
text, in the same call for a caller still on the line, by a survey call for one who hung up;
rated direct answers are published as the hotline's own replies."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from hotline.clock import FixedClock
from hotline.services import ratings
from hotline.storage.evaluation import RatingInvitation
from hotline.storage.outbox import OutboxMessage
from hotline.web.keys import CONTEXT
from tests.e2e.evaluation.conftest import Client
from tests.e2e.evaluation.test_ratings import ADMIN, api, invitations, sms, status
from tests.twilio_player import TwilioPlayer, call_form


async def outbox(client: Client, purpose: str) -> list[OutboxMessage]:
    async with client.app[CONTEXT].db.sessions() as session:
        return list(
            await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.purpose == purpose)
                .order_by(OutboxMessage.id)
            )
        )


async def ratings_of(client: Client, number: str) -> list[tuple[str, str]]:
    record = await api(client, "GET", f"/api/v1/tickets/{number}/ratings", ADMIN)
    return [(r["rating"], r["channel"]) for r in record["ratings"]]


async def test_a_texted_question_gets_the_answer_by_sms_and_is_rated(client: Client) -> None:
    accepted = await sms(client, "请问新生儿医保在哪里办理？", sender="+8613900004444")
    number = accepted.split("工单编号")[1][:17]
    answer = "可在安阳市政务服务中心医保窗口或“安阳医保”公众号办理，需携带出生医学证明。"
    await api(client, "POST", f"/api/v1/tickets/{number}/answer", ADMIN, {"answer": answer})

    told = await outbox(client, "answered")
    assert [m.recipient for m in told] == ["+8613900004444"]
    assert number in told[0].body and answer in told[0].body and told[0].kind == "sms"
    asked = await invitations(client, "sms")
    assert [m.recipient for m in asked] == ["+8613900004444"]

    thanks = await sms(client, "1", sender="+8613900004444")
    assert "非常满意" in thanks
    assert await ratings_of(client, number) == [("非常满意", "sms")]
    assert await status(client, number) == "answered"  # a direct answer stays answered


async def test_out_of_scope_guidance_is_sent_to_the_texter(client: Client) -> None:
    accepted = await sms(client, "我和邻居的借款纠纷怎么起诉？", sender="+8613900005555")
    number = accepted.split("工单编号")[1][:17]
    guidance = "民间借贷纠纷属于司法程序事项，请向有管辖权的人民法院起诉，或咨询12348法律服务热线。"
    await api(
        client,
        "POST",
        f"/api/v1/tickets/{number}/reject",
        ADMIN,
        {"reason_code": "litigation", "guidance": guidance},
    )
    told = await outbox(client, "rejected")
    assert [m.recipient for m in told] == ["+8613900005555"]
    assert guidance in told[0].body and "不属于12345热线受理范围" in told[0].body
    assert await invitations(client, "sms") == []  # a refusal is not a reply to rate


async def answered_during_call(client: Client, player: TwilioPlayer, call_sid: str) -> str:
    await player.post("/twilio/voice", call_form(call_sid, From="+863722555666"))
    made = await api(
        client,
        "POST",
        "/api/v1/tickets",
        ADMIN,
        {"type": "咨询", "content": "公积金提取需要什么材料", "call_sid": call_sid},
    )
    number = str(made["number"])
    await api(
        client,
        "POST",
        f"/api/v1/tickets/{number}/answer",
        ADMIN,
        {"answer": "携带身份证和购房合同到公积金中心办理"},
    )
    return number


async def test_the_caller_rates_the_answer_before_hanging_up(client: Client) -> None:
    player = TwilioPlayer(client)
    number = await answered_during_call(client, player, "CA-after-1")
    assert await outbox(client, "answered") == []  # the caller heard the answer
    assert await invitations(client, "survey_call") == []  # no call back while on the line

    ask = await player.post(
        "/twilio/voice/agent-done?agent=0",
        call_form("CA-after-1", DialCallStatus="completed", CallStatus="in-progress"),
    )
    gather = ask.first("Gather")
    assert gather.get("numDigits") == "1"
    assert "坐席的答复" in (gather.find("Say").text or "")  # type: ignore[union-attr]
    done = await player.post(gather.get("action") or "", call_form("CA-after-1", Digits="2"))
    assert done.verbs() == ["Say", "Hangup"]
    assert await ratings_of(client, number) == [("满意", "phone")]
    feed = await api(client, "GET", "/api/v1/public/evaluations", ADMIN)
    item = next(i for i in feed["items"] if i["number"] == number)
    assert item["reply"] == "携带身份证和购房合同到公积金中心办理"
    assert item["department"] == "安阳市12345热线" and item["rating"] == "满意"
    assert item["replied_at"] is not None

    # the delivery repeated, or the sweep later: nothing more is asked
    again = await player.post(
        "/twilio/voice/agent-done?agent=0",
        call_form("CA-after-1", DialCallStatus="completed", CallStatus="in-progress", x="1"),
    )
    assert again.verbs() == ["Hangup"]
    ctx = client.app[CONTEXT]
    ctx.clock.advance(timedelta(hours=2))  # type: ignore[attr-defined]
    await ratings.sweep(ctx)
    assert await invitations(client, "survey_call") == []


async def test_a_caller_who_hung_up_first_gets_the_survey_call_later(
    client: Client, clock: FixedClock
) -> None:
    player = TwilioPlayer(client)
    number = await answered_during_call(client, player, "CA-after-2")
    gone = await player.post(
        "/twilio/voice/agent-done?agent=0",
        call_form("CA-after-2", DialCallStatus="completed", CallStatus="completed"),
    )
    assert gone.verbs() == ["Hangup"]
    ctx = client.app[CONTEXT]
    clock.advance(timedelta(minutes=5))
    await ratings.sweep(ctx)
    assert await invitations(client, "survey_call") == []  # not yet
    clock.advance(timedelta(minutes=6))
    await ratings.sweep(ctx)
    calls = await invitations(client, "survey_call")
    assert [m.recipient for m in calls] == ["+863722555666"]
    async with ctx.db.sessions() as session:
        invitation = await session.get(RatingInvitation, calls[0].payload["invitation"])
        assert invitation is not None and invitation.sent_count == 1
        assert invitation.resend_at is None  # asked once by call; it lapses unanswered
    assert await status(client, number) == "answered"
