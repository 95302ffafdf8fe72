"""``/twilio/sms`` and ``/twilio/sms/status`` played the way Twilio plays them: form posts
signed with twilio's own ``RequestValidator``, retried, and delivered out of order."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from xml.etree.ElementTree import Element

from defusedxml import ElementTree
from sqlalchemy import func, select

from hotline.clock import FixedClock
from hotline.services.outbox import Outgoing, enqueue, get_message
from hotline.storage.citizens import Citizen, Contact
from hotline.storage.tickets import Ticket
from hotline.web.app import create_app
from hotline.web.keys import CONTEXT
from tests.e2e.channels.conftest import Client, ClientFactory
from tests.integration.channels.support import (
    CITIZEN,
    channel_settings,
    message_sid,
    signed_headers,
    sms_form,
    twilio_signature,
)

LONG_TEXT = (
    "您好，我是文峰区东关街道居民。小区门口的道路从上个月开始施工，施工方每天晚上十一点以后还在用"
    "挖掘机作业，噪音非常大，老人和孩子都无法休息。多次找施工方沟通无果，希望有关部门尽快核实处理，"
    "规范夜间施工时间。谢谢！"
)


async def post_sms(
    client: Client, form: dict[str, str], path: str = "/twilio/sms"
) -> tuple[int, str]:
    response = await client.post(path, data=form, headers=signed_headers(path, form))
    return response.status, await response.text()


def reply_text(twiml: str) -> str:
    root: Element = ElementTree.fromstring(twiml)
    assert root.tag == "Response"
    (message,) = root.findall("Message")
    return message.text or ""


async def contacts(client: Client) -> int:
    async with client.app[CONTEXT].db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Contact)) or 0)


async def test_a_text_opens_a_ticket_and_the_reply_gives_its_number(client: Client) -> None:
    form = sms_form(LONG_TEXT, NumSegments="3")
    status, body = await post_sms(client, form)
    assert status == 200
    text = reply_text(body)
    assert text.startswith("【安阳12345】您的诉求已受理，工单编号AY20261126-")
    number = text.split("工单编号")[1][:17]
    async with client.app[CONTEXT].db.sessions() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
        contact = await session.scalar(select(Contact))
    assert ticket is not None and ticket.content == LONG_TEXT and ticket.origin_channel == "sms"
    assert contact is not None and contact.payload["NumSegments"] == "3"
    assert contact.channel_ref == form["MessageSid"]


async def test_texts_from_new_numbers_go_as_one_statement_on_postgresql(client: Client) -> None:
    """The day's first batch finds the ticket number counter the transaction's way; the texts
    after it each go as one statement on PostgreSQL (``/metrics`` tells which way batches
    went), every one of them on SQLite the transaction's way."""
    numbers = []
    for n in range(3):
        status, body = await post_sms(client, sms_form(LONG_TEXT, sender=f"+861390000{n:04d}"))
        assert status == 200
        numbers.append(reply_text(body).split("工单编号")[1][:17])
    assert numbers == [f"AY20261126-{n:06d}" for n in (1, 2, 3)]
    text = await (await client.get("/metrics")).text()
    alone = client.app[CONTEXT].db.statements_alone
    assert f'hotline_intake_batches_total{{way="statement"}} {2.0 if alone else 0.0}' in text
    assert f'hotline_intake_batches_total{{way="transaction"}} {1.0 if alone else 3.0}' in text


async def test_a_retried_delivery_gets_the_same_reply_and_one_contact(client: Client) -> None:
    form = sms_form("路灯不亮")
    first = await post_sms(client, form)
    again = await post_sms(client, form)
    assert first == again
    assert await contacts(client) == 1


async def test_forged_or_missing_signatures_are_refused(client: Client) -> None:
    form = sms_form("伪造的短信")
    forged = twilio_signature("/twilio/sms", form, token="not-the-token")
    response = await client.post("/twilio/sms", data=form, headers={"X-Twilio-Signature": forged})
    assert response.status == 403
    response = await client.post("/twilio/sms", data=form)
    assert response.status == 403
    tampered = dict(form, Body="改过的内容")
    response = await client.post(
        "/twilio/sms", data=tampered, headers=signed_headers("/twilio/sms", form)
    )
    assert response.status == 403
    assert await contacts(client) == 0


async def test_a_follow_up_within_the_window_joins_the_open_ticket(
    client: Client, clock: FixedClock
) -> None:
    _, first = await post_sms(client, sms_form("小区门口井盖丢失"))
    number = reply_text(first).split("工单编号")[1][:17]
    clock.advance(timedelta(minutes=10))
    _, second = await post_sms(client, sms_form("补充：位置在东门，已经有人摔倒"))
    assert number in reply_text(second) and "并入" in reply_text(second)
    clock.advance(timedelta(minutes=31))
    _, third = await post_sms(client, sms_form("另一件事：公交站牌损坏"))
    assert number not in reply_text(third) and "受理" in reply_text(third)
    async with client.app[CONTEXT].db.sessions() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
    assert ticket is not None and ticket.repeat_count == 1


async def test_status_queries(client: Client) -> None:
    _, first = await post_sms(client, sms_form("路灯不亮"))
    number = reply_text(first).split("工单编号")[1][:17]
    for query in (f"查询{number}", f"查询 {number.lower()}", number, number.replace("-", "")[2:]):
        _, body = await post_sms(client, sms_form(query))
        assert reply_text(body) == f"【安阳12345】工单{number}当前状态：已受理。", query
    _, body = await post_sms(client, sms_form("查询"))
    assert number in reply_text(body) and "正在办理" in reply_text(body)
    _, body = await post_sms(client, sms_form(f"查询{number}", sender="+8613900001111"))
    assert "未查到" in reply_text(body)
    assert await contacts(client) == 1  # queries open nothing


async def test_opt_out_and_back_in(client: Client) -> None:
    _, body = await post_sms(client, sms_form("退订"))
    assert "已退订" in reply_text(body)
    async with client.app[CONTEXT].db.sessions() as session:
        citizen = await session.scalar(select(Citizen).where(Citizen.phone == CITIZEN))
    assert citizen is not None and citizen.sms_opt_out_at is not None
    _, body = await post_sms(client, sms_form("STOP"))
    assert "已退订" in reply_text(body)
    _, body = await post_sms(client, sms_form("订阅"))
    assert "恢复" in reply_text(body)
    async with client.app[CONTEXT].db.sessions() as session:
        citizen = await session.scalar(select(Citizen).where(Citizen.phone == CITIZEN))
    assert citizen is not None and citizen.sms_opt_out_at is None
    assert await contacts(client) == 0


async def test_status_callbacks_out_of_order_and_repeated(client: Client) -> None:
    ctx = client.app[CONTEXT]
    async with ctx.db.sessions() as session, session.begin():
        await enqueue(
            session, [Outgoing("sms", "k", CITIZEN, "【安阳12345】x", "test")], ctx.clock.now()
        )
    path = "/twilio/sms/status?outbox=1"
    sid = message_sid()
    for status in ("sent", "delivered", "sent", "queued", "delivered"):
        form = {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC", "To": CITIZEN}
        response = await client.post(path, data=form, headers=signed_headers(path, form))
        assert response.status == 200
    view = await get_message(ctx, 1)
    assert (view.row.provider_ref, view.row.delivery_status) == (sid, "delivered")
    form = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    response = await client.post(path, data=form, headers={"X-Twilio-Signature": "forged"})
    assert response.status == 403
    view = await get_message(ctx, 1)
    assert view.row.delivery_status == "delivered"


async def test_malformed_and_oversize_requests(client: Client) -> None:
    form = sms_form("没有编号")
    del form["MessageSid"]
    form["SmsSid"] = ""
    status, _ = await post_sms(client, form)
    assert status == 400
    assert await contacts(client) == 0


async def test_oversize_is_413(
    aiohttp_client: ClientFactory, database_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    settings = channel_settings(database_url, tmp_path, server={"max_body_bytes": 2048})
    small = await aiohttp_client(create_app(settings, clock=clock))
    status, _ = await post_sms(small, sms_form("长" * 2000))
    assert status == 413
    assert await contacts(small) == 0
