"""The mayor's mailbox through HTTP: the form with CSRF and attachments, the JSON API, the
public progress query with its code and no personal data."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from typing import Any

from aiohttp import FormData
from sqlalchemy import select

from dispatch.service import dispatch_to
from hotline.clock import FixedClock
from hotline.config import Settings
from hotline.domain.lifecycle import SYSTEM, Reply, Sign
from hotline.services.tickets import perform
from hotline.storage.attachments import Attachment
from hotline.storage.lookups import LookupFailure
from hotline.storage.outbox import OutboxMessage
from hotline.storage.tickets import Ticket
from hotline.web.app import create_app
from hotline.web.keys import CONTEXT
from tests.e2e.channels.conftest import Client, ClientFactory
from tests.factories import dept

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
LETTER = {
    "title": "东关街道夜间施工扰民",
    "content": "东关街道某工地每晚十一点后仍在施工，噪音很大。",
}


async def form_page(client: Client) -> tuple[str, str]:
    page = await client.get("/mailbox")
    assert page.status == 200
    html = await page.text()
    assert "市长信箱" in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    submission = re.search(r'name="submission" value="([0-9a-f]{32})"', html)
    assert token and submission
    return token.group(1), submission.group(1)


def letter_form(
    token: str, submission: str, files: list[tuple[str, bytes]] = (), **fields: str
) -> FormData:  # type: ignore[assignment]
    data = FormData()
    for key, value in {"csrf_token": token, "submission": submission, **LETTER, **fields}.items():
        data.add_field(key, value)
    for name, content in files:
        data.add_field(
            "attachments",
            io.BytesIO(content),
            filename=name,
            content_type="application/octet-stream",
        )
    return data


async def test_the_form_takes_a_letter_with_an_attachment(client: Client) -> None:
    token, submission = await form_page(client)
    response = await client.post(
        "/mailbox",
        data=letter_form(
            token, submission, [("现场.png", PNG)], phone="13812345678", confidential="1"
        ),
    )
    html = await response.text()
    assert response.status == 200, html
    number = re.search(r'id="number">(AY\d{8}-\d{6})<', html)
    code = re.search(r'id="query-code">([A-Z0-9]{8})<', html)
    assert number and code
    async with client.app[CONTEXT].db.sessions() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number.group(1)))
        attachment = await session.scalar(select(Attachment))
        sms = await session.scalar(select(OutboxMessage))
    assert ticket is not None and ticket.confidential and ticket.title == LETTER["title"]
    assert ticket.query_code_hash and code.group(1) not in ticket.query_code_hash
    assert attachment is not None and (attachment.filename, attachment.content_type) == (
        "现场.png",
        "image/png",
    )
    assert sms is not None and sms.purpose == "accepted" and number.group(1) in sms.body
    # the same submission again (a double click): the same ticket and code, nothing new
    again = await client.post("/mailbox", data=letter_form(token, submission, [("现场.png", PNG)]))
    assert number.group(1) in await again.text() and code.group(1) in await again.text()
    public = await client.get(
        f"/api/v1/public/tickets/{number.group(1)}", params={"code": code.group(1)}
    )
    assert public.status == 200


async def test_the_form_explains_what_is_wrong_and_keeps_what_was_written(client: Client) -> None:
    token, submission = await form_page(client)
    response = await client.post(
        "/mailbox",
        data=letter_form(token, submission, [("a.exe", b"MZ\x90\x00")], content="短", phone="12"),
    )
    html = await response.text()
    assert response.status == 422
    assert "内容请至少写5个字" in html and "手机号码格式不正确" in html and "格式不支持" in html
    assert LETTER["title"] in html  # kept
    async with client.app[CONTEXT].db.sessions() as session:
        assert await session.scalar(select(Ticket)) is None


async def test_csrf_is_required(client: Client) -> None:
    _, submission = await form_page(client)
    response = await client.post("/mailbox", data=letter_form("1.forged", submission))
    html = await response.text()
    assert response.status == 403
    assert "页面已过期" in html and LETTER["content"] in html
    client.session.cookie_jar.clear()
    token, submission = await form_page(client)
    client.session.cookie_jar.clear()  # a token without its cookie (another site's post)
    assert (await client.post("/mailbox", data=letter_form(token, submission))).status == 403


async def test_too_many_or_too_large_attachments(client: Client) -> None:
    token, submission = await form_page(client)
    files = [(f"{i}.png", PNG) for i in range(4)]
    response = await client.post("/mailbox", data=letter_form(token, submission, files))
    assert response.status == 422 and "附件最多3个" in await response.text()
    big = PNG + b"\x00" * (5 * 1024 * 1024)
    response = await client.post(
        "/mailbox", data=letter_form(token, submission, [("big.png", big)])
    )
    assert response.status == 413 and "超过5MB" in await response.text()


async def post_letter(client: Client, body: Any, **headers: str) -> Any:
    data = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return await client.post(
        "/api/v1/mailbox", data=data, headers={"Content-Type": "application/json", **headers}
    )


async def test_api_letter_and_public_progress(client: Client) -> None:
    first = await post_letter(
        client, {**LETTER, "name": "张三", "phone": "13812345678"}, **{"Idempotency-Key": "l-1"}
    )
    assert first.status == 201
    receipt = await first.json()
    assert set(receipt) == {"number", "query_code"}
    again = await post_letter(
        client, {**LETTER, "name": "张三", "phone": "13812345678"}, **{"Idempotency-Key": "l-1"}
    )
    assert (again.status, await again.json()) == (200, receipt)
    number, code = receipt["number"], receipt["query_code"]
    ctx = client.app[CONTEXT]
    await dispatch_to(ctx, number, "CGJ", SYSTEM)
    await perform(ctx, number, Sign("CGJ"), dept("CGJ"))
    await perform(ctx, number, Reply("CGJ", "已责令施工单位夜间停工。", True), dept("CGJ"))
    public = await client.get(f"/api/v1/public/tickets/{number}", params={"code": code.lower()})
    assert public.status == 200
    body = await public.json()
    assert (body["status"], body["status_label"]) == ("replied", "已答复")
    assert body["replies"][0]["content"] == "已责令施工单位夜间停工。"
    assert body["received_at"].endswith("+08:00")
    text = json.dumps(body, ensure_ascii=False)
    for personal in ("张三", "13812345678", LETTER["content"], LETTER["title"]):
        assert personal not in text
    for wrong in ("AAAAAAAA", "", code[:-1]):
        response = await client.get(f"/api/v1/public/tickets/{number}", params={"code": wrong})
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "not_found"
    page = await client.get("/mailbox/query", params={"number": number, "code": code})
    assert "已责令施工单位夜间停工" in await page.text()


async def test_api_bad_input(client: Client) -> None:
    cases = [
        ("{oops", 400, None),
        ({"title": "t"}, 422, "content"),
        ({**LETTER, "phone": "12"}, 422, "phone"),
        ({**LETTER, "content": "短"}, 422, "content"),
        ({**LETTER, "colour": "red"}, 422, "colour"),
        ({**LETTER, "type": "抱怨"}, 422, "type"),
    ]
    for body, status, field in cases:
        response = await post_letter(client, body)
        assert response.status == status, body
        error = (await response.json())["error"]
        if field:
            assert field in error["message"]
    other = await post_letter(client, {**LETTER}, **{"Idempotency-Key": "x"})
    assert other.status == 201
    conflict = await post_letter(
        client, {**LETTER, "content": "完全不同的另一件事情内容"}, **{"Idempotency-Key": "x"}
    )
    assert conflict.status == 409


async def test_guessing_query_codes_is_refused_for_a_while(
    client: Client, clock: FixedClock
) -> None:
    """20 failed lookups from one address within 15 minutes: 429 with Retry-After, even for the
    right code, on the API and the query page alike; after the window the writer gets in."""
    receipt = await (await post_letter(client, LETTER, **{"Idempotency-Key": "guess"})).json()
    number, code = receipt["number"], receipt["query_code"]
    for i in range(20):
        wrong = f"{i:02d}".translate(str.maketrans("0123456789", "ABCDEFGHJK")) + "AAAAAA"
        response = await client.get(f"/api/v1/public/tickets/{number}", params={"code": wrong})
        assert response.status == 404
    refused = await client.get(f"/api/v1/public/tickets/{number}", params={"code": code})
    assert refused.status == 429
    assert (await refused.json())["error"]["code"] == "too_many_requests"
    assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60
    page = await client.get("/mailbox/query", params={"number": number, "code": code})
    assert page.status == 429 and "查询失败次数过多" in await page.text()

    clock.advance(timedelta(minutes=16))
    allowed = await client.get(f"/api/v1/public/tickets/{number}", params={"code": code})
    assert allowed.status == 200


async def test_every_instance_counts_the_same_failed_lookups(
    client: Client,
    aiohttp_client: ClientFactory,
    settings: Settings,
    clock: FixedClock,
) -> None:
    """Two instances on one database: failures on either count for both, so an address gets
    no more tries than with one instance; what has left the window is deleted."""
    other = await aiohttp_client(create_app(settings, clock=clock))
    receipt = await (await post_letter(client, LETTER, **{"Idempotency-Key": "two"})).json()
    number, code = receipt["number"], receipt["query_code"]
    for i in range(20):
        wrong = f"{i:02d}".translate(str.maketrans("0123456789", "ABCDEFGHJK")) + "BBBBBB"
        app = client if i % 2 else other
        response = await app.get(f"/api/v1/public/tickets/{number}", params={"code": wrong})
        assert response.status == 404
    for app in (client, other):
        refused = await app.get(f"/api/v1/public/tickets/{number}", params={"code": code})
        assert refused.status == 429

    clock.advance(timedelta(minutes=16))
    late = await other.get(f"/api/v1/public/tickets/{number}", params={"code": "CCCCCCCC"})
    assert late.status == 404  # a new failure: the twenty old ones are forgotten
    ctx = client.app[CONTEXT]
    async with ctx.db.sessions() as session:
        kept = list(await session.scalars(select(LookupFailure.at)))
    assert kept == [clock.now()]
    assert (await client.get(f"/api/v1/public/tickets/{number}", params={"code": code})).ok
