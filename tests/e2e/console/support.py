"""Helpers for the console's tests: settings, signing in over HTTP, and reading tokens."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from hotline.config import Settings
from tests.conftest import make_settings
from tests.twilio_player import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL

Client = TestClient[Any, web.Application]

PASSWORD = "hotline-demo"
SECRET_KEY = "console-test-secret-key"
EMERGENCY = {"110": "+863722110110", "119": "+863722119119", "120": "+863722120120"}

_CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
_FORM_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def console_settings(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    env = {
        "HOTLINE_SECRET_KEY": SECRET_KEY,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "HOTLINE_PUBLIC_URL": PUBLIC_URL,
    }
    config: dict[str, Any] = {
        "emergency": EMERGENCY,
        "twilio": {"phone_number": "+863722012345"},
        "ivr": {"wrap_up_seconds": 0},
        "channels": {"outbox": {"run_worker": False}},
        "routing": {"auto_dispatch": False},
    }
    config.update(overrides)
    return make_settings(database_url, tmp_path, environ=env, **config)


def form_token(html: str) -> str:
    found = _FORM_TOKEN.search(html)
    assert found is not None, html[:500]
    return found.group(1)


def page_token(html: str) -> str:
    found = _CSRF_META.search(html)
    assert found is not None, html[:500]
    return found.group(1)


async def sign_in(client: Client, username: str, password: str = PASSWORD) -> str:
    """Sign in through the form; returns the session's CSRF token (for X-CSRF-Token)."""
    page = await client.get("/console/login")
    token = form_token(await page.text())
    response = await client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": token},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    home = await client.get(response.headers["Location"])
    assert home.status == 200
    return page_token(await home.text())
