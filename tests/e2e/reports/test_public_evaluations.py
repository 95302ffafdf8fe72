"""The public feed of rated replies (条例第五十二条), through HTTP: what is published, what never
is, and no personal data in any field of any item on any page (JSON and HTML)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from dispatch.service import dispatch_to
from hotline.clock import FixedClock
from hotline.config import Settings
from hotline.domain.intake import IntakeValue
from hotline.domain.lifecycle import SYSTEM, Actor, Reply, Sign
from hotline.domain.vocabulary import ActorKind, Channel, TicketType
from hotline.services import ratings
from hotline.services.context import Context
from hotline.services.intake import take_in
from hotline.services.tickets import perform
from hotline.web.app import create_app
from hotline.web.keys import CONTEXT

Client = TestClient[Any, web.Application]

NAME = "王建国"
PHONE = "+8613812345678"
OTHER_PHONE = "13998765432"
ID_CARD = "410502199001011234"
EMAIL = "wang.jg@example.cn"
HOME = "3号楼2单元401室"
CONFIDENTIAL_NAME = "李秀英"
CONFIDENTIAL_PHONE = "+8615011112222"
CONFIDENTIAL_ADDRESS = "文峰区锦绣花园"
#: what must never appear anywhere in the feed
SECRETS = (
    NAME,
    PHONE,
    PHONE.removeprefix("+"),
    PHONE.removeprefix("+86"),
    OTHER_PHONE,
    ID_CARD,
    EMAIL,
    HOME,
    "王先生",
    CONFIDENTIAL_NAME,
    CONFIDENTIAL_PHONE.removeprefix("+86"),
    CONFIDENTIAL_ADDRESS,
    "举报内容",
    "保密答复",
)
LEAKY_REPLY = (
    f"已电话联系王先生({OTHER_PHONE})，{NAME}反映的问题已处理。身份证{ID_CARD}，邮箱{EMAIL}，"
    f"住址{HOME}，回电{PHONE.removeprefix('+86')}。"
)


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings, clock: FixedClock) -> Client:
    return await aiohttp_client(create_app(settings, clock=clock))  # type: ignore[no-any-return]


async def rated_ticket(
    ctx: Context,
    *,
    reply: str,
    level: int,
    type_: TicketType = TicketType.COMPLAINT,
    phone: str = PHONE,
    name: str | None = NAME,
    confidential: bool = False,
    address: str | None = None,
    content: str = "北关区红旗路路灯不亮",
) -> str:
    made = await take_in(
        ctx,
        IntakeValue(
            channel=Channel.SMS,
            channel_ref=f"SM{uuid.uuid4().hex}",
            received_at=ctx.clock.now(),
            content=content,
            type=type_,
            category="municipal",
            division="410503",
            address=address,
            phone=phone,
            name=name,
            real_name=name is not None,
            confidential=confidential,
        ),
    )
    unit = Actor(ActorKind.DEPARTMENT, "key-cgj", "CGJ")
    await dispatch_to(ctx, made.number, "CGJ", SYSTEM)
    await perform(ctx, made.number, Sign("CGJ"), unit)
    await perform(ctx, made.number, Reply("CGJ", reply, True), unit)
    await ratings.rate(ctx, made.number, level, channel="sms", source_ref=f"SM{uuid.uuid4().hex}")
    return made.number


async def pages(client: Client, limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(50):
        query = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        response = await client.get(f"/api/v1/public/evaluations{query}")
        assert response.status == 200, await response.text()
        assert "Authorization" not in response.request_info.headers
        body = await response.json()
        assert set(body) == {"items", "next_cursor"}
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination does not end")


def scan(value: Any) -> list[str]:
    """Every string anywhere in ``value``."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in scan(v)]
    if isinstance(value, list):
        return [s for v in value for s in scan(v)]
    return []


PHONE_LIKE = re.compile(r"1[3-9]\d{9}|\d{17}[\dXx]|[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.")


async def test_the_feed_publishes_rated_replies_without_personal_data(
    client: Client, clock: FixedClock
) -> None:
    ctx = client.app[CONTEXT]
    published = [
        await rated_ticket(ctx, reply=LEAKY_REPLY, level=2),
        await rated_ticket(ctx, reply="路灯已修复。联系人：张三丰。", level=5, name=None),
        await rated_ticket(ctx, reply="已处理完毕。", level=1, address="北关区幸福小区5-2-301"),
    ]
    hidden = [
        await rated_ticket(
            ctx, reply="保密答复", level=1, confidential=True, phone="+8618600001111", name=None
        ),
        await rated_ticket(
            ctx, reply="保密答复", level=3, type_=TicketType.REPORT, content="举报内容"
        ),
        # a citizen who once asked for confidentiality: none of their tickets is published
        await rated_ticket(
            ctx,
            reply="保密答复",
            level=2,
            phone=CONFIDENTIAL_PHONE,
            name=CONFIDENTIAL_NAME,
            confidential=True,
            address=CONFIDENTIAL_ADDRESS,
        ),
        await rated_ticket(
            ctx, reply="保密答复", level=2, phone=CONFIDENTIAL_PHONE, name=CONFIDENTIAL_NAME
        ),
    ]
    # a rating voided by an upheld appeal is not published
    clock.advance(timedelta(hours=1))
    voided = await rated_ticket(ctx, reply="已处理。", level=5, name=None)
    async with ctx.db.sessions() as session:
        from sqlalchemy import select  # noqa: PLC0415

        from hotline.storage.evaluation import Rating  # noqa: PLC0415
        from hotline.storage.tickets import Ticket  # noqa: PLC0415

        rating_id = await session.scalar(
            select(Rating.id)
            .join(Ticket, Ticket.id == Rating.ticket_id)
            .where(Ticket.number == voided)
        )
    assert rating_id is not None
    appeal = await ratings.appeal(ctx, rating_id, "CGJ", "恶意差评")
    await ratings.decide_appeal(
        ctx, appeal.id, uphold=True, note=None, actor=Actor(ActorKind.SUPERVISOR, "s")
    )

    items = await pages(client, limit=2)
    assert sorted(i["number"] for i in items) == sorted(published)
    assert not {i["number"] for i in items} & {*hidden, voided}
    for item in items:
        assert set(item) == {
            "number", "category", "division", "department", "replied_at", "reply", "rating"
        }  # fmt: skip
        assert item["category"] == "市政设施(路灯/井盖/道路破损)"
        assert item["division"] == "北关区"
        assert item["department"] == "市城市管理局"
        assert item["replied_at"].endswith("+08:00")
        assert item["rating"] in {"非常满意", "满意", "基本满意", "不满意", "非常不满意"}
    by_number = {i["number"]: i for i in items}
    assert by_number[published[0]]["rating"] == "满意"
    assert by_number[published[1]]["rating"] == "非常不满意"
    assert "问题已处理" in by_number[published[0]]["reply"]
    # every field of every item: no name, phone, ID card, e-mail or home address
    for text in scan(items):
        for secret in SECRETS:
            assert secret not in text, (secret, text)
        assert not PHONE_LIKE.search(text), text
    assert "张三丰" not in json.dumps(items, ensure_ascii=False)
    assert "5-2-301" not in json.dumps(items, ensure_ascii=False)

    # the page shows the same, also without personal data, page after page
    html_pages = []
    url: str | None = "/public/evaluations?limit=2"
    while url:
        response = await client.get(url)
        assert response.status == 200
        assert response.content_type == "text/html"
        html = await response.text()
        html_pages.append(html)
        found = re.search(r'href="(/public/evaluations\?cursor=[^"]+)"', html)
        url = found.group(1).replace("&amp;", "&") if found else None
    text = "".join(html_pages)
    assert "好差评公开" in text
    for number in published:
        assert number in text
    for secret in (*SECRETS, *hidden, voided, "张三丰", "5-2-301"):
        assert secret not in text, secret


async def test_bad_input_is_a_422_and_an_empty_feed_is_fine(client: Client) -> None:
    response = await client.get("/api/v1/public/evaluations")
    assert response.status == 200
    assert await response.json() == {"items": [], "next_cursor": None}
    for query in ("limit=0", "limit=101", "limit=abc", "limit=²", "cursor=!!", "cursor=cDox"):
        response = await client.get(f"/api/v1/public/evaluations?{query}")
        assert response.status == 422, query
        assert (await response.json())["error"]["code"] == "invalid_field"
    page = await client.get("/public/evaluations?cursor=broken")
    assert page.status == 200
    assert "暂无公开的评价" in await page.text()
