"""Every main page fits a 1366×768 screen, and still fits with the browser zoomed to 150%
(the same as a viewport of 911×512 CSS pixels at a device scale factor of 1.5): no sideways
scrolling of the page, the navigation and the main controls on screen."""

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

SCREENS = {
    "1366x768": {"viewport": {"width": 1366, "height": 768}},
    "zoom150": {"viewport": {"width": 911, "height": 512}, "device_scale_factor": 1.5},
}
PAGES = {
    "supervisor1": [
        "/console/wallboard",
        "/console/triage",
        "/console/tickets",
        "/console/returns",
        "/console/extensions",
        "/console/duplicates",
        "/console/escalation",
        "/console/hotspots",
        "/console/outbox",
    ],
    "agent1": ["/console/desk"],
    "gsgs": ["/console/department"],
}
FITS = """() => ({
  page: document.documentElement.scrollWidth,
  screen: document.documentElement.clientWidth,
  smallestFont: Math.min(...Array.from(document.querySelectorAll('main *'))
    .filter(e => e.offsetParent !== null && e.childNodes.length)
    .map(e => parseFloat(getComputedStyle(e).fontSize))),
})"""


@pytest.mark.parametrize("screen", sorted(SCREENS))
async def test_main_pages_fit_the_screen(browser: Any, server: LiveServer, screen: str) -> None:
    for i, text in enumerate(("文峰区东关街道停水三天了", "北关区洹北街道路灯一周不亮，" * 8)):
        created = await server.api(
            "POST",
            "/api/v1/tickets",
            {"type": "投诉", "content": text, "address": "很长的地址" * 10},
        )
        if i == 0:
            await dispatch_to(server.ctx, created["number"], "GSGS", SYSTEM)
    for username, paths in PAGES.items():
        page = await sign_in(browser, server, username, **SCREENS[screen])
        for path in [*paths, f"/console/tickets/{created['number']}"]:
            if username == "gsgs" and path.startswith("/console/tickets/"):
                continue
            await page.goto(server.url + path)
            fits = await page.evaluate(FITS)
            assert fits["page"] <= fits["screen"], (screen, path, fits)
            assert fits["smallestFont"] >= 11, (screen, path, fits)
            await expect(page.locator("nav.nav a").first).to_be_in_viewport()
            await expect(page.locator("main h1, main h2").first).to_be_visible()
        if username == "agent1":
            await page.goto(server.url + "/console/desk")
            save = page.locator("#f-save")
            await save.scroll_into_view_if_needed()
            await expect(save).to_be_in_viewport()
        assert page.problems == [], page.problems
