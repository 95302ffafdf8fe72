"""Channel tests run with every carrier configured (Twilio, WeChat, a secret key)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.config import Settings
from tests.integration.channels.support import channel_settings


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return channel_settings(database_url, tmp_path)
