"""An app for the console's HTTP tests (the browser tests in tests/browser run a real server)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from hotline.clock import FixedClock
from hotline.config import Settings
from hotline.web.app import create_app
from tests.e2e.console.support import Client, console_settings

ClientFactory = Callable[..., Awaitable[TestClient[Any, web.Application]]]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return console_settings(database_url, tmp_path)


@pytest.fixture
async def client(aiohttp_client: ClientFactory, settings: Settings, clock: FixedClock) -> Client:
    return await aiohttp_client(create_app(settings, clock=clock))


@pytest.fixture
async def other(aiohttp_client: ClientFactory, client: Client) -> Client:
    """A second browser on the same server (its own cookies)."""
    return await aiohttp_client(client.server)
