"""Settings: ``config.yaml`` validated at load, secrets only from the environment.

Where the config comes from (CONTRACT.md): ``--config``, else ``$HOTLINE_CONFIG``, else
``./config.yaml``, else the packaged defaults. A deployment file is merged over the packaged
defaults (``hotline/defaults.yaml``), so it need only name what differs. An error names the file
and the key. This module is the only one that reads ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from channels.config import ChannelsConfig
from dispatch.config import EscalationConfig, HotspotConfig, RoutingConfig
from hotline.configbase import Section as _Section
from hotline.domain.phones import normalise_phone
from hotline.domain.vocabulary import EmergencyService, TicketType
from hotline.reports.config import ReportsConfig
from hotline.web.console.config import ConsoleConfig
from ivr.config import IvrConfig

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///hotline.db"


class ConfigError(Exception):
    """The config cannot be used; the message names the file and the key."""


class CityConfig(_Section):
    code: str = "410500"
    name: str = "安阳市"
    ticket_prefix: str = Field(default="AY", pattern=r"^[A-Z]{1,6}$")
    phone_region: str = Field(default="CN", pattern=r"^[A-Z]{2}$")


class ServerConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)


class DatabaseConfig(_Section):
    url: str | None = None
    echo: bool = False
    pool_size: int = Field(default=10, ge=1)
    #: SQLite file: the intake's group commit runs on a thread with a connection of its own
    #: (``hotline.storage.db``); off: on the serving event loop, like PostgreSQL
    write_thread: bool = True
    #: with the write thread: a unit of work runs on the serving loop when SQLite's write lock
    #: is free at once, on the thread when another process holds it (``WriteThread``)
    write_on_loop: bool = True
    #: the intake's group commit on SQLite (a batch written on the loop, where nothing queues
    #: meanwhile): when the last batch held several contacts (others are arriving), the next
    #: waits this long to gather more before it writes, as PostgreSQL's ``commit_delay`` does
    #: with ``commit_siblings``; a contact arriving alone never waits
    group_commit_delay_ms: float = Field(default=2.0, ge=0, le=1000)


class CalendarConfig(_Section):
    holidays: list[date] = []
    workdays: list[date] = []
    #: /healthz is degraded when a day this far ahead falls in a year with no schedule (the
    #: longest deadline set today: 5 + 5 working days across a long holiday)
    lookahead_days: int = Field(default=31, ge=0, le=366)


class TimeLimit(_Section):
    """A handling time limit: N working days, or (urgent track) N clock hours."""

    working_days: int | None = Field(default=None, ge=1, le=60)
    hours: int | None = Field(default=None, ge=1, le=24 * 30)

    @model_validator(mode="after")
    def _exactly_one(self) -> TimeLimit:
        if (self.working_days is None) == (self.hours is None):
            raise ValueError("give exactly one of working_days or hours")
        return self


class TimeLimitsConfig(_Section):
    """条例第五十条 and the centre's own rules. Deadlines are computed in ``dispatch.deadlines``."""

    handling_working_days: int = Field(default=5, ge=1, le=60)
    extension_working_days: int = Field(default=5, ge=1, le=60)
    max_extensions: int = Field(default=1, ge=0, le=5)
    return_window_hours: int = Field(default=24, ge=1, le=24 * 7)
    sign_hours: int = Field(default=2, ge=1, le=72)
    urgent: TimeLimit = TimeLimit(hours=24)
    urgent_sign_hours: int = Field(default=1, ge=1, le=24)
    by_type: dict[TicketType, TimeLimit] = {}
    by_category: dict[str, TimeLimit] = {}


class LoggingConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "console"] = "json"


class DataConfig(_Section):
    """Reference data for ``hotline seed``; paths relative to the config file."""

    divisions: str | None = None
    taxonomy: str | None = None


class TwilioConfig(_Section):
    #: the hotline's own number, caller ID of outbound calls and messages (E.164)
    phone_number: str | None = None
    #: seconds to wait for Twilio's REST API before giving up on a request
    timeout_seconds: float = Field(default=10, gt=0, le=60)

    @field_validator("phone_number")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        return _check_e164(value)


def _check_e164(value: str | None) -> str | None:
    if value is None:
        return None
    phone = normalise_phone(value, "CN")
    if phone.e164 is None or phone.e164 != value:
        raise ValueError(f"must be a full E.164 number such as +863722123456, not {value!r}")
    return value


class EvaluationConfig(_Section):
    """好差评 (条例第五十二条): inviting, reminding, and following up bad ratings."""

    invitation: str = (
        "您的工单{number}已办理答复，请回复数字评价："
        + "1非常满意 2满意 3基本满意 4不满意 5非常不满意。"
    )
    thanks: str = "感谢您对工单{number}的评价：{level}。"
    bad_thanks: str = (
        "感谢您对工单{number}的评价：{level}。我们将核实情况并督促整改，工作人员会与您联系。"
    )
    already_rated: str = "该答复已经评价过了，感谢您的支持。"
    #: a citizen who phoned in is asked by a survey call back (call) or, on a mobile, by SMS
    phone_invitation: Literal["call", "sms"] = "call"
    #: a caller whose matter the agent answered on the spot is asked to rate it at the end of
    #: the call; if the call ended first, the invitation goes out (survey call or SMS) this
    #: many minutes after the answer
    after_call_survey_minutes: int = Field(default=10, ge=1, le=24 * 60)
    #: an unanswered invitation is sent once more after this long
    resend_after_hours: int = Field(default=24, ge=1, le=24 * 7)
    #: then, after this long from the first invitation, the ticket closes without a rating
    expire_after_hours: int = Field(default=72, ge=2, le=24 * 30)
    #: a real-name bad rating: the unit contacts the citizen within this many working days
    #: (the regulation's number is missing from its text)
    bad_contact_working_days: int = Field(default=1, ge=1, le=10)
    #: a rectification (重办) after a bad rating has this handling time limit
    rectify_working_days: int = Field(default=5, ge=1, le=30)
    #: seconds between sweeps (re-sends, expiries, overdue contacts)
    sweep_seconds: float = Field(default=60, gt=0, le=3600)

    @model_validator(mode="after")
    def _expire_after_resend(self) -> EvaluationConfig:
        if self.expire_after_hours <= self.resend_after_hours:
            raise ValueError("expire_after_hours must be longer than resend_after_hours")
        return self


class HotlineConfig(_Section):
    city: CityConfig = CityConfig()
    server: ServerConfig = ServerConfig()
    database: DatabaseConfig = DatabaseConfig()
    calendar: CalendarConfig = CalendarConfig()
    time_limits: TimeLimitsConfig = TimeLimitsConfig()
    logging: LoggingConfig = LoggingConfig()
    data: DataConfig = DataConfig()
    twilio: TwilioConfig = TwilioConfig()
    #: 一键转接: the full E.164 numbers of the dispatch centres (Twilio cannot dial 110 itself)
    emergency: dict[EmergencyService, str] = {}
    #: a second number per service, tried when the first fails
    emergency_fallback: dict[EmergencyService, str] = {}
    ivr: IvrConfig = IvrConfig()
    routing: RoutingConfig = RoutingConfig()
    escalation: EscalationConfig = EscalationConfig()
    hotspots: HotspotConfig = HotspotConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    channels: ChannelsConfig = ChannelsConfig()
    console: ConsoleConfig = ConsoleConfig()
    reports: ReportsConfig = ReportsConfig()

    @field_validator("emergency", "emergency_fallback")
    @classmethod
    def _numbers(cls, value: dict[EmergencyService, str]) -> dict[EmergencyService, str]:
        for number in value.values():
            _check_e164(number)
        return value


class Secrets(BaseModel):
    """From the environment only (CONTRACT.md)."""

    model_config = ConfigDict(frozen=True)

    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_api_base_url: str | None = None
    wechat_token: str | None = None
    wechat_app_id: str | None = None
    wechat_app_secret: str | None = None
    wechat_encoding_aes_key: str | None = None
    secret_key: str | None = None
    admin_token: str | None = None
    public_url: str | None = None
    #: the platforms' callback signing secrets, by platform (from each one's ``secret_env``)
    platform_secrets: dict[str, str] = {}


_SECRET_ENV = {
    "twilio_account_sid": "TWILIO_ACCOUNT_SID",
    "twilio_auth_token": "TWILIO_AUTH_TOKEN",
    "twilio_api_base_url": "TWILIO_API_BASE_URL",
    "wechat_token": "WECHAT_TOKEN",
    "wechat_app_id": "WECHAT_APP_ID",
    "wechat_app_secret": "WECHAT_APP_SECRET",
    "wechat_encoding_aes_key": "WECHAT_ENCODING_AES_KEY",
    "secret_key": "HOTLINE_SECRET_KEY",
    "admin_token": "HOTLINE_ADMIN_TOKEN",
    "public_url": "HOTLINE_PUBLIC_URL",
}


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    config: HotlineConfig
    secrets: Secrets
    database_url: str
    config_path: str | None

    def data_path(self, name: Literal["divisions", "taxonomy"]) -> Path | None:
        value = getattr(self.config.data, name)
        if value is None:
            return None
        path = Path(value)
        if not path.is_absolute() and self.config_path is not None:
            path = Path(self.config_path).parent / path
        return path


def _packaged_defaults() -> dict[str, Any]:
    text = resources.files("hotline").joinpath("defaults.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):  # pragma: no cover - the packaged file is ours
        raise ConfigError("hotline/defaults.yaml: top level must be a mapping")
    return data


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def resolve_config_path(explicit: str | None, environ: Mapping[str, str]) -> Path | None:
    if explicit:
        return Path(explicit)
    if environ.get("HOTLINE_CONFIG"):
        return Path(environ["HOTLINE_CONFIG"])
    local = Path("config.yaml")
    if local.is_file():
        return local
    return None


def _format_error(source: str, error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        lines.append(f"{source}: {key}: {item['msg']}")
    return "\n".join(lines)


def load_settings(
    config_path: str | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Load and validate. ``overrides`` (a partial config) is merged last, for tests and CLI."""
    env = os.environ if environ is None else environ
    path = resolve_config_path(config_path, env)
    data = _packaged_defaults()
    source = "hotline/defaults.yaml"
    if path is not None:
        source = str(path)
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"{source}: file not found") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{source}: (top level): must be a mapping of sections")
        data = _merge(data, loaded)
    if overrides:
        data = _merge(data, overrides)
    try:
        config = HotlineConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(source, exc)) from exc
    platform_secrets = {}
    for name, platform in config.channels.platforms.items():
        if platform.secret_env:
            value = env.get(platform.secret_env)
            if not value:
                raise ConfigError(
                    f"{source}: channels.platforms.{name}.secret_env: the environment variable "
                    f"{platform.secret_env} is not set"
                )
            platform_secrets[name] = value
    secrets = Secrets(
        **{field: env.get(var) or None for field, var in _SECRET_ENV.items()},
        platform_secrets=platform_secrets,
    )
    database_url = env.get("HOTLINE_DATABASE_URL") or config.database.url or DEFAULT_DATABASE_URL
    return Settings(
        config=config,
        secrets=secrets,
        database_url=database_url,
        config_path=str(path) if path is not None else None,
    )
