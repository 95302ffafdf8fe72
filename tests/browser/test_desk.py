"""The agent desk in headless Chromium: a signed incoming-call webhook pops the caller's history,
the agent writes a ticket with the keyboard and dispatches it with Ctrl+Enter, and transfers the
live call to 120 with the result shown."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select

from hotline.storage.users import User
from tests.browser.support import LiveServer, call_form, sign_in
from tests.twilio_player import ACCOUNT_SID

pw = pytest.importorskip(
    "playwright.async_api", reason="Python Playwright is not installed (pip install playwright)"
)
expect = pw.expect

CALLER = "+8613812345678"


async def user_id(server: LiveServer, username: str) -> int:
    async with server.ctx.db.sessions() as session:
        found = await session.scalar(select(User.id).where(User.username == username))
    assert found is not None
    return int(found)


async def test_a_call_pops_the_history_and_the_agent_works_by_keyboard(
    browser: Any, server: LiveServer
) -> None:
    prior = await server.api(
        "POST",
        "/api/v1/tickets",
        {"type": "投诉", "content": "殷都区水冶镇路灯不亮", "phone": CALLER},
    )
    page = await sign_in(browser, server, "agent1")
    assert page.url.endswith("/console/desk")
    await page.fill("#agent-phone", "+863722000001")
    await page.keyboard.press("Alt+1")
    await expect(page.locator("#my-state")).to_have_text("示闲")

    # Twilio: the call arrives, the caller waits for an agent, the ACD offers it to agent1
    sid = "CA" + "1" * 32
    await server.twilio("/twilio/voice", call_form(sid, CALLER))
    started = time.perf_counter()
    await server.twilio("/twilio/voice/queue", call_form(sid, CALLER, CallStatus="in-progress"))
    await expect(page.locator("#caller-phone")).to_have_text(CALLER, timeout=1000)
    popped = time.perf_counter() - started
    assert popped < 1.0, f"screen pop after {popped:.2f} s"
    await expect(page.locator("#caller-open")).to_contain_text(prior["number"])
    await expect(page.locator("#my-state")).to_have_text("通话中")
    await expect(page.locator("#f-phone")).to_have_value(CALLER)
    await expect(page.locator('[data-transfer="120"]')).to_be_disabled()

    # the agent picks up
    agent = await user_id(server, "agent1")
    leg = {
        "AccountSid": ACCOUNT_SID,
        "CallSid": "CA" + "2" * 32,
        "ParentCallSid": sid,
        "CallStatus": "in-progress",
    }
    await server.twilio(f"/twilio/voice/agent-leg?agent={agent}&call={sid}", leg)
    await expect(page.locator('[data-transfer="120"]')).to_be_enabled()
    await expect(page.locator(".call-stage")).to_have_text("通话中")

    # a ticket with the keyboard: suggestions and the division follow the text
    await page.focus("#f-content")
    await page.keyboard.type("文峰区东关街道停水三天了，家里老人没水喝")
    await expect(page.locator("#division-detect")).to_contain_text("文峰区")
    await expect(page.locator("#f-category")).to_have_value("water")
    await expect(page.locator("#f-department")).to_have_value("GSGS")
    await expect(page.locator('input[name="mode"][value="dispatch"]')).to_be_checked()
    await page.keyboard.press("Tab")  # to the address
    await page.keyboard.type("东关街道建设路12号")
    await page.keyboard.press("Control+Enter")
    await expect(page.locator("#ticket-msg")).to_contain_text("已派单至安阳市供水公司")
    number = await page.evaluate("document.body.dataset.lastTicket")
    ticket = await server.api("GET", f"/api/v1/tickets/{number}")
    assert ticket["status"] == "dispatched"
    assert ticket["channel"] == "phone"
    assert ticket["address"] == "东关街道建设路12号"
    assert ticket["assignments"][0]["department"] == "GSGS"
    assert ticket["citizen"]["phone"] == CALLER
    call = await server.api("GET", f"/api/v1/calls/{sid}")
    assert call["ticket"] == number
    await expect(page.locator("#f-content")).to_have_value("")  # ready for the next matter

    # one-key transfer to 120 while the agent stays on
    await page.click('[data-transfer="120"]')
    await expect(page.locator("#transfer-results")).to_contain_text("转接120：转接中")
    assert server.gateway.participants[0]["to"] == "+863722120120"
    attempt = (await server.api("GET", f"/api/v1/calls/{sid}"))["transfers"][0]["id"]
    await server.twilio(
        f"/twilio/voice/transfer-status?attempt={attempt}",
        {"AccountSid": ACCOUNT_SID, "CallSid": "CA" + "3" * 32, "CallStatus": "in-progress"},
    )
    await expect(page.locator("#transfer-results")).to_contain_text("转接120：转接成功")
    assert page.problems == []


async def test_knowledge_base_answer_on_the_spot(browser: Any, server: LiveServer) -> None:
    page = await sign_in(browser, server, "agent2")
    await page.keyboard.press("/")
    await expect(page.locator("#kb-q")).to_be_focused()
    await page.keyboard.type("公积金")
    first = page.locator("#kb-results li").first
    await expect(first).to_contain_text("公积金")
    await first.locator("button").click()
    await expect(page.locator("#answer-box")).to_be_visible()
    await expect(page.locator("#kb-cited")).to_contain_text("引用知识库")
    await page.fill("#f-content", "请问住房公积金怎么提取")
    await page.keyboard.press("Control+Enter")
    await expect(page.locator("#ticket-msg")).to_contain_text("已直接答复")
    number = await page.evaluate("document.body.dataset.lastTicket")
    ticket = await server.api("GET", f"/api/v1/tickets/{number}")
    assert ticket["status"] == "answered"
    assert ticket["channel"] == "console"
    assert page.problems == []
