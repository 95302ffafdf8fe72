"""Config: packaged defaults, a deployment file merged over them, errors naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.config import DEFAULT_DATABASE_URL, ConfigError, load_settings
from hotline.domain.vocabulary import TicketType

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_packaged_defaults_carry_the_regulation(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, ""), environ={})
    limits = s.config.time_limits
    assert (limits.handling_working_days, limits.extension_working_days) == (5, 5)
    assert (limits.max_extensions, limits.return_window_hours) == (1, 24)
    assert s.config.city.ticket_prefix == "AY"
    assert s.database_url == DEFAULT_DATABASE_URL


def test_the_repository_config_is_valid() -> None:
    s = load_settings(str(REPO / "config.yaml"), environ={})
    assert s.config.server.port == 8080


def test_deployment_file_merges_over_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "time_limits:\n  by_type: {咨询: {working_days: 3}, 投诉: {working_days: 10}}\n"
        "calendar:\n  holidays: [2027-01-01]\n",
    )
    s = load_settings(path, environ={})
    assert s.config.time_limits.by_type[TicketType.CONSULTATION].working_days == 3
    assert s.config.time_limits.handling_working_days == 5  # untouched default
    assert [d.isoformat() for d in s.config.calendar.holidays] == ["2027-01-01"]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("time_limits:\n  handling_working_days: zero\n", "time_limits.handling_working_days"),
        ("time_limits:\n  by_type: {咨讯: {working_days: 3}}\n", "time_limits.by_type.咨讯"),
        ("server:\n  prot: 80\n", "server.prot"),
        ("calendar:\n  holidays: [not-a-date]\n", "calendar.holidays.0"),
        ("time_limits:\n  urgent: {hours: 4, working_days: 1}\n", "time_limits.urgent"),
    ],
)
def test_errors_name_the_file_and_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert path in str(info.value)
    assert key in str(info.value)


def test_broken_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(write(tmp_path, "server: [\n"), environ={})
    with pytest.raises(ConfigError, match="not found"):
        load_settings(str(tmp_path / "nope.yaml"), environ={})
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(write(tmp_path, "- a\n- b\n"), environ={})


def test_secrets_and_database_come_from_the_environment(tmp_path: Path) -> None:
    env = {
        "HOTLINE_CONFIG": write(tmp_path, "database: {url: sqlite+aiosqlite:///x.db}\n"),
        "HOTLINE_DATABASE_URL": "postgresql+asyncpg://h@db/h",
        "TWILIO_AUTH_TOKEN": "tok",
        "HOTLINE_ADMIN_TOKEN": "adm",
    }
    s = load_settings(None, environ=env)
    assert s.config_path == env["HOTLINE_CONFIG"]
    assert s.database_url == "postgresql+asyncpg://h@db/h"
    assert s.secrets.twilio_auth_token == "tok"
    assert s.secrets.admin_token == "adm"
    assert s.secrets.wechat_token is None
