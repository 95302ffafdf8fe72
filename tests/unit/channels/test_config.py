"""Templates are checked when the config loads: an unknown placeholder names the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from channels.config import ChannelsConfig
from hotline.config import ConfigError, load_settings


def test_defaults_load_and_render() -> None:
    cfg = load_settings(environ={}).config.channels
    text = cfg.sms.templates.extension.format(
        number="AY1", reason="原因", due_date="2026年12月10日"
    )
    assert "原因" in text and "2026年12月10日" in text
    assert cfg.outbox.max_attempts == 8


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("channels: {sms: {templates: {replied: '工单{numbr}已答复'}}}", "numbr"),
        ("channels: {texts: {status: '工单{number'}}", "status"),
        ("channels: {mailbox: {attachment_types: [application/x-msdownload]}}", "attachment_types"),
        ("channels: {outbox: {backoff_seconds: 100, backoff_max_seconds: 10}}", "backoff"),
        ("channels: {platforms: {gov: {callback_url: not-a-url}}}", "callback_url"),
        ("channels: {smss: {}}", "smss"),
    ],
)
def test_bad_channel_config_is_refused(tmp_path: Path, override: str, message: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(override, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_settings(str(path), environ={})


def test_documented_defaults_agree_with_the_model() -> None:
    """hotline/defaults.yaml spells out every channel template; it must say what the code does."""
    assert load_settings(environ={}).config.channels == ChannelsConfig()
