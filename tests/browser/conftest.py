"""Browser tests: a real server on a free port and headless Chromium through Playwright.

They skip, with the reason, where Playwright or Chromium is missing (``.ci/run`` installs both:
``apt-get install -y chromium`` and the test extras).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hotline.clock import FixedClock
from tests.browser.support import (
    SERVER_CONFIG,
    LiveServer,
    browser_missing,
    chromium,
    live_server,
    server_environ,
)
from tests.conftest import make_settings


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    reason = browser_missing()
    if reason is not None:
        pytest.skip(reason)
    async with chromium() as launched:
        yield launched


@pytest.fixture
async def server(database_url: str, tmp_path: Path, clock: FixedClock) -> AsyncIterator[LiveServer]:
    settings = make_settings(database_url, tmp_path, environ=server_environ(), **SERVER_CONFIG)
    async with live_server(settings, clock=clock) as running:
        yield running
