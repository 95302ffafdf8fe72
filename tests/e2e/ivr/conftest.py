"""Fixtures for the voice tests: an app configured for Twilio, a Twilio player, a fake gateway,
and Prism serving Twilio's REST API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from hotline.clock import FixedClock
from hotline.config import Settings
from hotline.services.context import Context
from hotline.web.app import create_app
from hotline.web.keys import CONTEXT
from ivr.runner import ACD
from tests.conftest import make_settings
from tests.fakes import FakeVoiceGateway
from tests.twilio_player import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, TwilioPlayer

ClientFactory = Callable[..., Awaitable[TestClient[Any, web.Application]]]

EMERGENCY = {"110": "+863722110110", "119": "+863722119119", "120": "+863722120120"}
FALLBACK = {"120": "+863722120999"}


def voice_settings(database_url: str, tmp_path: Path, api_base: str | None = None) -> Settings:
    env = {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "HOTLINE_PUBLIC_URL": PUBLIC_URL,
    }
    if api_base:
        env["TWILIO_API_BASE_URL"] = api_base
    return make_settings(
        database_url,
        tmp_path,
        environ=env,
        emergency=EMERGENCY,
        emergency_fallback=FALLBACK,
        twilio={"phone_number": "+863722012345"},
        ivr={"wait_limit_seconds": 60, "wrap_up_seconds": 0},
    )


@pytest.fixture
async def voice_app(
    aiohttp_client: ClientFactory, database_url: str, tmp_path: Path, clock: FixedClock
) -> AsyncIterator[TestClient[Any, web.Application]]:
    client = await aiohttp_client(create_app(voice_settings(database_url, tmp_path), clock=clock))
    yield client


@pytest.fixture
def fake_gateway(voice_app: TestClient[Any, web.Application]) -> FakeVoiceGateway:
    gateway = FakeVoiceGateway()
    voice_app.app[ACD].gateway = gateway
    return gateway


@pytest.fixture
def player(voice_app: TestClient[Any, web.Application]) -> TwilioPlayer:
    return TwilioPlayer(voice_app)


@pytest.fixture
def app_ctx(voice_app: TestClient[Any, web.Application]) -> Context:
    return voice_app.app[CONTEXT]
