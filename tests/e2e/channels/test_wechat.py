"""``/wechat`` played the way WeChat plays it: pushes built and encrypted with wechatpy, Tencent's
published sample vector, retries, events, hostile XML."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import xmltodict
from defusedxml import ElementTree
from sqlalchemy import func, select
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

from channels import wechat
from hotline.clock import FixedClock
from hotline.storage.citizens import Contact
from hotline.storage.outbox import OutboxMessage
from hotline.storage.wechat import WeChatUser
from hotline.web.app import create_app
from hotline.web.keys import CONTEXT
from tests.e2e.channels.conftest import Client, ClientFactory
from tests.integration.channels.support import (
    WECHAT_AES_KEY,
    WECHAT_APP_ID,
    WECHAT_TOKEN,
    channel_env,
    channel_settings,
)

OPENID = "oUser-0001"
ACCOUNT = "gh_anyang12345"
NONCE = "1320562132"


def sign(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


def query(token: str = WECHAT_TOKEN, timestamp: str | None = None, **extra: str) -> dict[str, str]:
    ts = timestamp or str(int(time.time()))
    return {"signature": sign(token, ts, NONCE), "timestamp": ts, "nonce": NONCE, **extra}


_ids = iter(range(6_000_000_000_000_000_000, 7_000_000_000_000_000_000))


def push_xml(
    msg_type: str, *, openid: str = OPENID, msg_id: str | None = None, **fields: Any
) -> str:
    doc: dict[str, Any] = {
        "ToUserName": ACCOUNT,
        "FromUserName": openid,
        "CreateTime": str(int(time.time())),
        "MsgType": msg_type,
        **fields,
    }
    if msg_type != "event":
        doc["MsgId"] = msg_id or str(next(_ids))
    return str(xmltodict.unparse({"xml": doc}, full_document=False))


async def post_push(client: Client, xml: str, q: dict[str, str] | None = None) -> tuple[int, str]:
    response = await client.post("/wechat", params=q or query(), data=xml.encode("utf-8"))
    return response.status, await response.text()


def reply_fields(body: str) -> dict[str, str]:
    root = ElementTree.fromstring(body)
    return {child.tag: child.text or "" for child in root}


async def count(client: Client, model: Any) -> int:
    async with client.app[CONTEXT].db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_server_verification(client: Client) -> None:
    good = await client.get("/wechat", params={**query(), "echostr": "shr5ch"})
    assert (good.status, await good.text()) == (200, "shr5ch")
    bad = await client.get("/wechat", params={**query(token="wrong"), "echostr": "shr5ch"})
    assert bad.status == 403


async def test_text_push_gets_a_passive_reply_with_the_number_once(client: Client) -> None:
    xml = push_xml("text", Content="东关街道施工噪音扰民，夜里十一点还在施工")
    status, body = await post_push(client, xml)
    assert status == 200
    reply = reply_fields(body)
    assert (reply["ToUserName"], reply["FromUserName"], reply["MsgType"]) == (
        OPENID,
        ACCOUNT,
        "text",
    )
    assert "工单编号AY20261126-" in reply["Content"]
    again = await post_push(client, xml, query())  # WeChat's retry: new timestamp, same MsgId
    assert again == (200, body)
    assert await count(client, Contact) == 1


async def test_safe_mode_push_built_with_wechatpy(client: Client) -> None:
    crypto = WeChatCrypto(WECHAT_TOKEN, WECHAT_AES_KEY, WECHAT_APP_ID)
    ts = str(int(time.time()))
    envelope = crypto.encrypt_message(push_xml("text", Content="公交站牌倒了"), NONCE, ts)
    encrypt = reply_fields(envelope)["Encrypt"]
    q = query(
        timestamp=ts, encrypt_type="aes", msg_signature=sign(WECHAT_TOKEN, ts, NONCE, encrypt)
    )
    status, body = await post_push(client, envelope, q)
    assert status == 200
    answer = reply_fields(body)
    plain = crypto.decrypt_message(
        answer, answer["MsgSignature"], answer["TimeStamp"], answer["Nonce"]
    )
    assert "工单编号AY20261126-" in reply_fields(plain)["Content"]
    forged = dict(q, msg_signature=sign("other-token", ts, NONCE, encrypt))
    assert (await post_push(client, envelope, forged))[0] == 403


async def test_tencent_sample_vector(
    aiohttp_client: ClientFactory, database_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    """The encrypted message of WeChat's own sample code (WXBizMsgCrypt), with its key."""
    env = channel_env(
        database_url,
        WECHAT_TOKEN="spamtest",
        WECHAT_ENCODING_AES_KEY="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        WECHAT_APP_ID="wx2c2769f8efd9abc2",
    )
    client = await aiohttp_client(
        create_app(channel_settings(database_url, tmp_path, env), clock=clock)
    )
    from_xml = (
        "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA["
        "oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName><CreateTime>1409735668</CreateTime><MsgType>"
        "<![CDATA[text]]></MsgType><Content><![CDATA[abcdteT]]></Content><MsgId>6054768590064713728"
        "</MsgId><Encrypt><![CDATA[hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+"
        "LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41"
        "IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWw"
        "MrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C"
        "0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=]]>"
        "</Encrypt></xml>"
    )
    q = {
        "signature": "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a",
        "timestamp": "1409735669",
        "nonce": "1320562132",
        "encrypt_type": "aes",
        "msg_signature": "5d197aaffba7e9b25a30732f161a50dee96bd5fa",
    }
    status, _ = await post_push(client, from_xml, q)
    assert status == 200
    async with client.app[CONTEXT].db.sessions() as session:
        contact = await session.scalar(select(Contact))
    assert contact is not None
    assert contact.content == "abcdteT"
    assert contact.channel_ref == "oyORnuP8q7ou2gfYjqLzSIWZf0rs:6054768590064713728"
    bad = dict(q, msg_signature="5d197aaffba7e9b25a30732f161a50dee96bd5fb")
    assert (await post_push(client, from_xml.replace("6054768590064713728", "1"), bad))[0] == 403


async def test_voice_image_and_location(client: Client) -> None:
    _, body = await post_push(
        client, push_xml("voice", MediaId="m1", Format="amr", Recognition="小区停水三天了")
    )
    number = reply_fields(body)["Content"].split("工单编号")[1][:17]
    _, body = await post_push(client, push_xml("image", PicUrl="http://mmbiz/1.jpg", MediaId="m2"))
    assert number in reply_fields(body)["Content"]  # a follow-up joins the open ticket
    _, body = await post_push(
        client,
        push_xml(
            "location",
            Location_X="36.0976",
            Location_Y="114.3925",
            Scale="15",
            Label="安阳市文峰区",
        ),
    )
    assert number in reply_fields(body)["Content"]
    async with client.app[CONTEXT].db.sessions() as session:
        found = list((await session.scalars(select(Contact).order_by(Contact.id))).all())
    assert [c.content for c in found] == ["小区停水三天了", "", "[位置] 安阳市文峰区"]
    assert found[1].payload["PicUrl"] == "http://mmbiz/1.jpg"
    assert len({c.ticket_id for c in found}) == 1


async def test_events(client: Client) -> None:
    subscribe = push_xml("event", Event="subscribe")
    _, body = await post_push(client, subscribe)
    assert "感谢关注" in reply_fields(body)["Content"]
    assert (await post_push(client, subscribe))[1] == body  # retried event: handled once
    _, body = await post_push(
        client, push_xml("event", Event="CLICK", EventKey="QUERY", CreateTime="1")
    )
    assert "查询+工单编号" in reply_fields(body)["Content"]
    _, body = await post_push(client, push_xml("event", Event="unsubscribe", CreateTime="2"))
    assert body == "success"
    async with client.app[CONTEXT].db.sessions() as session:
        user = await session.get(WeChatUser, OPENID)
    assert user is not None and user.subscribed is False
    assert await count(client, Contact) == 0


async def test_echoed_text_cannot_break_out_of_cdata(
    aiohttp_client: ClientFactory, database_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    tricky = "请回复]]><MsgType>hack</MsgType><![CDATA[继续"
    settings = channel_settings(
        database_url, tmp_path, channels={"wechat": {"menu": {"X": tricky}}}
    )
    client = await aiohttp_client(create_app(settings, clock=clock))
    _, body = await post_push(client, push_xml("event", Event="CLICK", EventKey="X"))
    reply = reply_fields(body)
    assert (reply["Content"], reply["MsgType"]) == (tricky, "text")


@pytest.mark.parametrize(
    "xml",
    [
        "<xml><ToUserName>",  # malformed
        "not xml at all",
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
        "<xml><MsgType>text</MsgType><FromUserName>o</FromUserName><Content>&lol2;</Content></xml>",
        '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        "<xml><MsgType>text</MsgType><FromUserName>o</FromUserName><Content>&xxe;</Content></xml>",
        "<xml><MsgType>text</MsgType></xml>",  # no sender
        "<other><MsgType>text</MsgType></other>",
    ],
)
async def test_hostile_or_malformed_xml_is_400(client: Client, xml: str) -> None:
    status, _ = await post_push(client, xml)
    assert status == 400
    assert await count(client, Contact) == 0


async def test_forged_signature_and_oversize(client: Client) -> None:
    xml = push_xml("text", Content="你好")
    assert (await post_push(client, xml, query(token="forged")))[0] == 403
    big = push_xml("text", Content="长" * 30_000)
    assert (await post_push(client, big))[0] == 413
    assert await count(client, Contact) == 0


async def test_a_slow_reply_follows_as_a_customer_service_message(
    aiohttp_client: ClientFactory, database_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    settings = channel_settings(
        database_url, tmp_path, channels={"wechat": {"reply_within_seconds": 0}}
    )
    client = await aiohttp_client(create_app(settings, clock=clock))
    _, body = await post_push(client, push_xml("text", Content="路面塌陷，请尽快处理"))
    assert "稍后告知工单编号" in reply_fields(body)["Content"]
    await asyncio.gather(*wechat._pending)
    async with client.app[CONTEXT].db.sessions() as session:
        queued = (await session.scalars(select(OutboxMessage))).one()
    assert (queued.kind, queued.recipient, queued.purpose) == ("wechat", OPENID, "wechat_reply")
    assert "工单编号AY20261126-" in queued.body
