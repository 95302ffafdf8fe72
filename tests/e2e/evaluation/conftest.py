"""The evaluation tests run with every carrier configured, like the channels' (SMS, WeChat)."""

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
from tests.integration.channels.support import channel_settings

ClientFactory = Callable[..., Awaitable[TestClient[Any, web.Application]]]
Client = TestClient[Any, web.Application]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return channel_settings(database_url, tmp_path)


@pytest.fixture
async def client(aiohttp_client: ClientFactory, settings: Settings, clock: FixedClock) -> Client:
    return await aiohttp_client(create_app(settings, clock=clock))
