"""Dispatch from the triage queue, the department desk, the supervisor's decisions, live updates
in a second browser, optimistic locking, CSRF and roles — in headless Chromium."""

from __future__ import annotations

from typing import Any

import pytest

from dispatch.service import dispatch_to
from hotline.domain.lifecycle import SYSTEM
from tests.browser.support import LiveServer, sign_in

pw = pytest.importorskip(
    "playwright.async_api", reason="Python Playwright is not installed (pip install playwright)"
)
expect = pw.expect


async def new_ticket(server: LiveServer, content: str, **extra: Any) -> str:
    body = {"type": "投诉", "content": content, **extra}
    return str((await server.api("POST", "/api/v1/tickets", body))["number"])


async def test_triage_accepts_the_suggestion_with_one_key_or_overrides_it(
    browser: Any, server: LiveServer
) -> None:
    water = await new_ticket(server, "文峰区东关街道停水三天了")
    lights = await new_ticket(server, "北关区洹北街道路灯一周不亮")
    page = await sign_in(browser, server, "agent1")
    await page.goto(server.url + "/console/triage")
    first = page.locator(f'tr[data-number="{water}"]')
    await expect(first).to_have_class("triage-row selected")
    await expect(first.locator(".s-dept")).to_have_text("安阳市供水公司")
    await expect(first.locator("details")).to_contain_text("停水")  # the explanation
    await page.keyboard.press("Enter")  # accept the suggestion
    await expect(page.locator(f'tr[data-number="{water}"]')).to_have_count(0)  # live refresh
    assert (await server.api("GET", f"/api/v1/tickets/{water}"))["assignments"][0][
        "department"
    ] == "GSGS"

    second = page.locator(f'tr[data-number="{lights}"]')
    await expect(second).to_have_class("triage-row selected")
    await page.keyboard.press("o")  # override
    select = second.locator("select.override")
    await expect(select).to_be_focused()
    await select.select_option("GOV-410503")
    await select.press("Enter")
    await expect(page.locator(f'tr[data-number="{lights}"]')).to_have_count(0)
    ticket = await server.api("GET", f"/api/v1/tickets/{lights}")
    assert ticket["assignments"][0]["department"] == "GOV-410503"
    await expect(page.locator("#queue-total")).to_have_text("0")
    assert page.problems == []


async def test_department_signs_and_replies_while_the_supervisor_decides_live(
    browser: Any, server: LiveServer
) -> None:
    number = await new_ticket(server, "文峰区东关街道停水三天了", phone="+8613812345678")
    unit = await sign_in(browser, server, "gsgs")
    boss = await sign_in(browser, server, "supervisor1")
    await boss.goto(server.url + "/console/extensions")
    await expect(boss.locator("#extensions-table")).to_contain_text("没有待审批的延期申请")

    # the unit's desk shows the new ticket as soon as it is dispatched
    await expect(unit.locator("#department-table")).to_contain_text("本单位暂无在办工单")
    await dispatch_to(server.ctx, number, "GSGS", SYSTEM)
    await expect(unit.locator("#department-table")).to_contain_text(number)
    await unit.click(f'a:has-text("{number}")')
    await unit.click("#sign-button")
    await expect(unit.locator("h1 .status")).to_have_text("已签收")
    await unit.fill('#extension-form input[name="reason"]', "管网改造需要协调交通管制")
    await unit.fill('#extension-form input[name="approved_by"]', "王经理")
    await unit.click('#extension-form button[type="submit"]')
    await expect(unit.locator("#extension-pending")).to_be_visible()

    # a second browser sees it without reloading, and decides
    row = boss.locator("#extensions-table tbody tr").first
    await expect(row).to_contain_text(number)
    await expect(row).to_contain_text("管网改造需要协调交通管制")
    await row.locator('input[name="note"]').fill("同意，请尽快恢复")
    await row.locator('button:has-text("批准延期")').click()
    await expect(boss.locator("#extensions-table")).to_contain_text("没有待审批的延期申请")
    ticket = await server.api("GET", f"/api/v1/tickets/{number}")
    assert ticket["assignments"][0]["extensions_granted"] == 1

    # the unit's open page learns of the decision; after a refresh it replies
    await expect(unit.locator("#ticket-updated")).to_be_visible()
    await expect(unit.locator("#ticket-updated-what")).to_contain_text("延期审批")
    await unit.reload()
    await unit.fill('#reply-form textarea[name="content"]', "已完成管网改造，恢复供水")
    await unit.check('#reply-form input[name="contacted_citizen"]')
    await unit.click('#reply-form button[type="submit"]')
    await expect(unit.locator("h1 .status")).to_have_text("已答复")
    assert (await server.api("GET", f"/api/v1/tickets/{number}"))["status"] == "replied"
    assert unit.problems == [] and boss.problems == []


async def test_two_agents_on_one_ticket_the_second_is_told_not_overwritten(
    browser: Any, server: LiveServer
) -> None:
    number = await new_ticket(server, "北关区洹北街道路灯一周不亮")
    first = await sign_in(browser, server, "agent1")
    second = await sign_in(browser, server, "agent2")
    for page in (first, second):
        await page.goto(server.url + f"/console/tickets/{number}")
    await first.select_option('form[data-api$="/amend"] select[name="category"]', "municipal")
    await first.click('form[data-api$="/amend"] button[type="submit"]')
    await expect(first.locator("h1")).to_contain_text("第 2 版")
    await expect(second.locator("#ticket-updated")).to_be_visible()  # told live
    await second.select_option('form[data-api$="/amend"] select[name="category"]', "water")
    await second.click('form[data-api$="/amend"] button[type="submit"]')
    message = second.locator('form[data-api$="/amend"] .form-msg')
    await expect(message).to_contain_text("保存失败")
    await expect(message).to_contain_text("agent1")
    await expect(message).to_contain_text("您的修改没有保存")
    assert (await server.api("GET", f"/api/v1/tickets/{number}"))["category"] == "municipal"


async def test_posts_without_the_csrf_token_are_refused(browser: Any, server: LiveServer) -> None:
    page = await sign_in(browser, server, "agent1")
    result = await page.evaluate(
        """async () => {
            const post = (url, body, headers) => fetch(url, {method: 'POST', body,
                headers: Object.assign({'Content-Type': 'application/json'}, headers || {})});
            const token = document.querySelector('meta[name="csrf-token"]').content;
            const body = JSON.stringify({type: '咨询', content: '请问社保卡怎么办'});
            const without = await post('/api/v1/tickets', body);
            const forged = await post('/api/v1/tickets', body, {'X-CSRF-Token': 'x'.repeat(64)});
            const logout = await fetch('/console/logout', {method: 'POST', redirect: 'manual'});
            const withToken = await post('/api/v1/tickets', body, {'X-CSRF-Token': token});
            return [without.status, (await without.json()).error.code, forged.status,
                    logout.status, withToken.status];
        }"""
    )
    assert result == [403, "csrf_failed", 403, 403, 201]
    # a sign-in form posted without its token
    fresh = await (await browser.new_context()).new_page()
    await fresh.goto(server.url + "/console/login")
    await fresh.evaluate("document.querySelector('input[name=csrf_token]').remove()")
    await fresh.fill('input[name="username"]', "agent1")
    await fresh.fill('input[name="password"]', "hotline-demo")
    await fresh.click('button[type="submit"]')
    await expect(fresh.locator(".alert.error")).to_contain_text("页面已过期")
    assert "/console/login" in fresh.url


async def test_an_agent_cannot_open_supervisor_pages(browser: Any, server: LiveServer) -> None:
    page = await sign_in(browser, server, "agent1")
    nav = await page.locator("nav.nav a").all_inner_texts()
    assert "监控大屏" not in nav and "坐席工作台" in nav
    for path in ("/console/wallboard", "/console/returns", "/console/outbox"):
        response = await page.goto(server.url + path)
        assert response.status == 403
        await expect(page.locator("h1")).to_have_text("无权访问")


async def test_the_wallboard_follows_calls_and_tickets_live(
    browser: Any, server: LiveServer
) -> None:
    page = await sign_in(browser, server, "supervisor1")
    assert page.url.endswith("/console/wallboard")
    await expect(page.locator("#wb-awaiting")).to_have_text("0")
    await new_ticket(server, "文峰区东关街道停水三天了")
    await expect(page.locator("#wb-awaiting")).to_have_text("1")
    await expect(page.locator("#wb-today")).to_have_text("1")
    await expect(page.locator(".toast").first).to_contain_text("新工单")
    assert page.problems == []
