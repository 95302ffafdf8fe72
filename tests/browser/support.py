"""A real console server for browser tests and the screenshot script, headless Chromium
(Debian's ``chromium`` through Python Playwright), and a carrier that signs Twilio webhooks.

Nothing here imports Playwright at module level: without it, or without the browser, the tests
skip with the reason and the screenshot script says what to install.
"""

from __future__ import annotations

import importlib
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

from hotline.clock import Clock
from hotline.config import Settings
from hotline.services.context import Context
from hotline.web.app import create_app
from hotline.web.keys import CONTEXT
from ivr.runner import ACD
from tests.fakes import FakeVoiceGateway
from tests.twilio_player import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL

CHROMIUM = os.environ.get("HOTLINE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1366, "height": 768}
PASSWORD = "hotline-demo"
ADMIN = {"Authorization": "Bearer test-admin-token"}


def browser_missing() -> str | None:
    """Why browser tests cannot run here, or None."""
    try:
        importlib.import_module("playwright.async_api")
    except ImportError:
        return "Python Playwright is not installed (pip install playwright)"
    if not Path(CHROMIUM).exists():
        return f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
    return None


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A headless Chromium (Playwright's async ``Browser``)."""
    api: Any = importlib.import_module("playwright.async_api")
    async with api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class LiveServer:
    app: web.Application
    url: str
    gateway: FakeVoiceGateway
    http: aiohttp.ClientSession
    validator: RequestValidator = field(default_factory=lambda: RequestValidator(AUTH_TOKEN))

    @property
    def ctx(self) -> Context:
        return self.app[CONTEXT]

    async def twilio(self, path: str, form: dict[str, str]) -> str:
        """Post a webhook the way Twilio does: signed for the public URL."""
        signature = self.validator.compute_signature(PUBLIC_URL + path, form)
        async with self.http.post(
            self.url + path, data=form, headers={"X-Twilio-Signature": signature}
        ) as response:
            text = await response.text()
            assert response.status in (200, 204), (path, response.status, text)
            return text

    async def api(self, method: str, path: str, body: Any = None) -> Any:
        """The JSON API with the admin token."""
        async with self.http.request(method, self.url + path, json=body, headers=ADMIN) as response:
            data = await response.json()
            assert response.status < 300, (path, response.status, data)
            return data


def call_form(call_sid: str, caller: str, **extra: str) -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT_SID,
        "CallSid": call_sid,
        "From": caller,
        "To": "+863722012345",
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
        **extra,
    }


def server_environ() -> dict[str, str]:
    return {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "HOTLINE_PUBLIC_URL": PUBLIC_URL,
        "HOTLINE_SECRET_KEY": "browser-test-secret-key",
        "WECHAT_TOKEN": "hotline-wechat-token",
    }


SERVER_CONFIG: dict[str, Any] = {
    "emergency": {"110": "+863722110110", "119": "+863722119119", "120": "+863722120120"},
    "twilio": {"phone_number": "+863722012345"},
    "ivr": {"wrap_up_seconds": 0},
    "channels": {"outbox": {"run_worker": False}},
    "routing": {"auto_dispatch": False},
}


@asynccontextmanager
async def live_server(
    settings: Settings, *, clock: Clock | None = None
) -> AsyncIterator[LiveServer]:
    """The whole app on a free port of 127.0.0.1, with a fake Twilio REST gateway."""
    app = create_app(settings, clock=clock)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    gateway = FakeVoiceGateway()
    app[ACD].gateway = gateway
    try:
        async with aiohttp.ClientSession() as http:
            yield LiveServer(app, f"http://{host}:{port}", gateway, http)
    finally:
        await runner.cleanup()


async def sign_in(browser: Any, server: LiveServer, username: str, **context: Any) -> Any:
    """A new browser context signed in as ``username``; returns its page (live updates on)."""
    options: dict[str, Any] = {
        "viewport": VIEWPORT,
        "locale": "zh-CN",
        "timezone_id": "Asia/Shanghai",
        **context,
    }
    page = await (await browser.new_context(**options)).new_page()
    watch(page)
    await page.goto(server.url + "/console/login")
    await page.fill('input[name="username"]', username)
    await page.fill('input[name="password"]', PASSWORD)
    await page.press('input[name="password"]', "Enter")
    await page.wait_for_url(lambda url: "/console/login" not in url)
    await live(page)
    return page


async def live(page: Any) -> None:
    """Wait until the page's WebSocket is open."""
    await page.wait_for_selector('body[data-live="open"]', state="attached", timeout=10_000)


def watch(page: Any) -> None:
    """Record script errors, dialogs and CSP violations on ``page.problems``."""
    problems: list[str] = []
    page.problems = problems

    def on_dialog(dialog: Any) -> Any:
        problems.append(f"dialog: {dialog.message}")
        return dialog.dismiss()

    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.on("dialog", on_dialog)

    def on_console(msg: Any) -> None:
        # refused loads (4xx answers the test expects) are not problems; scripts are
        if msg.type == "error" and "Failed to load resource" not in msg.text:
            problems.append(f"console: {msg.text}")

    page.on("console", on_console)
