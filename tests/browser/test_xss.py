"""Citizens' text is shown escaped everywhere: ``<script>`` and friends are posted through every
channel that takes text from outside (SMS and WeChat webhooks, the mailbox form, the platform
API, the ticket API, a caller's number, a unit's reply and requests, a knowledge-base article),
then every console page is opened in Chromium and nothing may run or be injected.

A failure shows up three ways: ``window.__xss`` set, an element built from the payload in the
DOM, or a Content-Security-Policy violation reported on the console (the policy forbids inline
scripts, so an injected one is refused — and reported).
"""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest
import xmltodict
from sqlalchemy import update
from wechatpy.utils import WeChatSigner

from dispatch import hotspots
from dispatch.service import dispatch_to
from hotline.domain.lifecycle import SYSTEM
from hotline.services.keys import create_key
from hotline.storage.outbox import OutboxMessage
from tests.browser.support import LiveServer, call_form, sign_in
from tests.twilio_player import ACCOUNT_SID

pw = pytest.importorskip(
    "playwright.async_api", reason="Python Playwright is not installed (pip install playwright)"
)
expect = pw.expect

MARK = "window.__xss=(window.__xss||0)+1"
PAYLOAD = (
    f"<script>{MARK}</script>"
    f'<img src=x onerror="{MARK}">'
    f'"><svg onload="{MARK}"></svg>'
    f"';{MARK};//"
    '<iframe srcdoc="<script>parent.__xss=1</script>"></iframe>'
    "{{7*7}}"
)
SHORT = f"<script>{MARK}</script>"
MEDIUM = f'<img src=x onerror="{MARK}">"><svg onload="{MARK}"></svg>'
WECHAT_TOKEN = "hotline-wechat-token"

INJECTED = """() => ({
  xss: window.__xss || 0,
  scripts: document.querySelectorAll('script:not([src]):not([type="application/json"])').length,
  elements: document.querySelectorAll(
    'img[src="x"], svg[onload], iframe[srcdoc], [onerror]').length,
})"""


def text(channel: str) -> str:
    """A citizen's story with the payload in the middle, routable enough to reach a unit."""
    return f"{channel}：文峰区东关街道停水三天了 {PAYLOAD} 请尽快处理"


async def post_everything(server: LiveServer) -> dict[str, str]:
    """One ticket per channel; returns their numbers by channel."""
    numbers: dict[str, str] = {}
    ctx = server.ctx
    # SMS webhook
    sms = {
        "MessageSid": "SM" + "1" * 32,
        "AccountSid": ACCOUNT_SID,
        "From": "+8613800000001",
        "To": "+863722012345",
        "Body": text("短信"),
        "NumSegments": "1",
        "NumMedia": "0",
    }
    reply = await server.twilio("/twilio/sms", sms)
    numbers["sms"] = re.findall(r"AY\d{8}-\d{6}", reply)[0]
    # WeChat push (plain mode)
    ts, nonce = str(int(ctx.clock.now().timestamp())), "20261126"
    signer = WeChatSigner()
    signer.add_data(WECHAT_TOKEN, ts, nonce)
    xml = xmltodict.unparse(
        {
            "xml": {
                "ToUserName": "gh_anyang12345",
                "FromUserName": "oXss-0001",
                "CreateTime": ts,
                "MsgType": "text",
                "Content": text("微信"),
                "MsgId": "6000000000000000001",
            }
        },
        full_document=False,
    )
    async with server.http.post(
        server.url + "/wechat",
        params={"signature": signer.signature, "timestamp": ts, "nonce": nonce},
        data=xml.encode(),
    ) as response:
        assert response.status == 200, await response.text()
        numbers["wechat"] = re.findall(r"AY\d{8}-\d{6}", await response.text())[0]
    # the mayor's mailbox form (with its CSRF cookie and token)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.get(server.url + "/mailbox") as page:
            html = await page.text()
        token = re.search(r'name="csrf_token" value="([^"]+)"', html)
        submission = re.search(r'name="submission" value="([^"]+)"', html)
        assert token and submission
        form = {
            "csrf_token": token.group(1),
            "submission": submission.group(1),
            "title": SHORT,
            "content": text("市长信箱"),
            "type": "投诉",
            "name": SHORT,
            "phone": "13800000002",
            "address": MEDIUM,
        }
        async with browser.post(server.url + "/mailbox", data=form) as done:
            assert done.status == 200, await done.text()
            numbers["mailbox"] = re.findall(r"AY\d{8}-\d{6}", await done.text())[0]
    # a superior platform
    key = await create_key(ctx, platform="xss-platform")
    async with server.http.post(
        server.url + "/api/v1/platform/tickets",
        json={
            "external_id": "ext-xss-1",
            "title": SHORT,
            "content": text("上级平台"),
            "address": PAYLOAD,
            "phone": "13800000003",
        },
        headers={"Authorization": f"Bearer {key}"},
    ) as response:
        assert response.status == 201, await response.text()
        numbers["platform"] = (await response.json())["number"]
    # the ticket API
    created = await server.api(
        "POST",
        "/api/v1/tickets",
        {
            "type": "投诉",
            "title": SHORT,
            "content": text("接口"),
            "address": PAYLOAD,
            "name": SHORT,
            "phone": "13800000004",
        },
    )
    numbers["api"] = created["number"]
    # a unit's words: dispatched to the water company, which answers with the payload
    unit_key = await create_key(ctx, department="GSGS")
    unit = {"Authorization": f"Bearer {unit_key}"}
    await dispatch_to(ctx, numbers["api"], "GSGS", SYSTEM)
    await dispatch_to(ctx, numbers["platform"], "GSGS", SYSTEM)
    await dispatch_to(ctx, numbers["mailbox"], "GSGS", SYSTEM)
    for path, body in (
        (f"/api/v1/tickets/{numbers['api']}/sign", {}),
        (f"/api/v1/tickets/{numbers['api']}/progress", {"note": PAYLOAD}),
        (f"/api/v1/tickets/{numbers['api']}/extension", {"reason": PAYLOAD, "approved_by": SHORT}),
        (f"/api/v1/tickets/{numbers['platform']}/return", {"reason": PAYLOAD}),
        (f"/api/v1/tickets/{numbers['mailbox']}/sign", {}),
        (
            f"/api/v1/tickets/{numbers['mailbox']}/reply",
            {"content": PAYLOAD, "contacted_citizen": True},
        ),
    ):
        async with server.http.post(server.url + path, json=body, headers=unit) as response:
            assert response.status < 300, (path, await response.text())
    # the outbox's messages (the reply SMS quotes the unit's words) as dead letters
    async with ctx.db.sessions() as session, session.begin():
        await session.execute(
            update(OutboxMessage).values(status="dead", last_error=PAYLOAD, dead_at=ctx.clock.now())
        )
    # a knowledge-base article
    await server.api(
        "PUT", "/api/v1/kb/xss-1", {"title": f"停水 {SHORT}", "body": PAYLOAD, "keywords": ["停水"]}
    )
    # a caller whose number is the payload, offered to agent1
    await server.api(
        "PUT", "/api/v1/agents/agent1/state", {"state": "available", "phone": "+863722000001"}
    )
    sid = "CA" + "9" * 32
    await server.twilio("/twilio/voice", call_form(sid, SHORT))
    await server.twilio("/twilio/voice/queue", call_form(sid, SHORT, CallStatus="in-progress"))
    # repeats at one place make a hotspot
    for i in range(5):
        await server.api(
            "POST",
            "/api/v1/tickets",
            {
                "type": "投诉",
                "content": f"{PAYLOAD} 停水 {i}",
                "category": "water",
                "division": "410502",
                "street": "410502-东关街道",
            },
        )
    await hotspots.refresh(ctx)
    return numbers


async def assert_clean(page: Any, where: str) -> None:
    found = await page.evaluate(INJECTED)
    assert found == {"xss": 0, "scripts": 0, "elements": 0}, (where, found)
    assert page.problems == [], (where, page.problems)


async def test_no_console_page_runs_what_citizens_sent(browser: Any, server: LiveServer) -> None:
    numbers = await post_everything(server)
    boss = await sign_in(browser, server, "supervisor1")
    pages = [
        "/console/wallboard",
        "/console/triage",
        "/console/tickets",
        "/console/tickets?q=" + "停水",
        "/console/returns",
        "/console/extensions",
        "/console/duplicates",
        "/console/escalation",
        "/console/hotspots",
        "/console/outbox",
        "/console/tickets/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    ]
    pages += [f"/console/tickets/{n}" for n in numbers.values()]
    for path in pages:
        await boss.goto(server.url + path)
        await assert_clean(boss, path)
    # the payload is there, as text
    await boss.goto(server.url + f"/console/tickets/{numbers['api']}")
    await expect(boss.locator("#t-content")).to_contain_text(f"<script>{MARK}</script>")
    await expect(boss.locator(".t-address")).to_contain_text('<img src=x onerror="')
    await expect(boss.locator(".t-citizen")).to_contain_text("<script>")
    await expect(boss.locator(".events")).to_contain_text('"><svg onload=')
    await boss.goto(server.url + "/console/outbox")
    await expect(boss.locator("#outbox-table")).to_contain_text("<script>")
    await boss.goto(server.url + "/console/returns")
    await expect(boss.locator("#returns-table")).to_contain_text("<iframe srcdoc=")

    # the agent's desk: the caller's number in the screen pop and the live call list, the
    # knowledge base (built by the page's script), and the suggestion of the payload text
    agent = await sign_in(browser, server, "agent1")
    await expect(agent.locator("#caller-phone")).to_have_text(SHORT)
    await expect(agent.locator("#live-calls")).to_contain_text(SHORT)
    await agent.fill("#kb-q", "停水")
    await expect(agent.locator("#kb-results")).to_contain_text(PAYLOAD[:40])
    await agent.fill("#f-content", text("坐席"))
    await agent.fill("#f-address", PAYLOAD)
    await expect(agent.locator("#suggestion")).to_be_visible()
    await agent.keyboard.press("Control+Enter")
    await expect(agent.locator("#ticket-msg")).to_contain_text("已登记工单")
    await assert_clean(agent, "desk")
    await agent.goto(server.url + "/console/triage")
    await assert_clean(agent, "triage as agent")

    # a unit's desk and ticket page
    unit = await sign_in(browser, server, "gsgs")
    await assert_clean(unit, "department desk")
    await unit.goto(server.url + f"/console/tickets/{numbers['mailbox']}")
    await expect(unit.locator("#t-content")).to_contain_text("<script>")
    await assert_clean(unit, "department ticket")

    # reflected input: the sign-in page's next and user name, and the error page
    visitor = await (await browser.new_context()).new_page()
    visitor.problems = []
    visitor.on("dialog", lambda d: visitor.problems.append(d.message))
    await visitor.goto(server.url + '/console/login?next="><script>alert(1)</script>')
    await visitor.fill('input[name="username"]', SHORT)
    await visitor.fill('input[name="password"]', "wrong-password")
    await visitor.click('button[type="submit"]')
    await expect(visitor.locator(".alert.error")).to_contain_text("用户名或密码错误")
    await expect(visitor.locator('input[name="username"]')).to_have_value(SHORT)
    assert (await visitor.evaluate(INJECTED))["xss"] == 0
    assert visitor.problems == []
