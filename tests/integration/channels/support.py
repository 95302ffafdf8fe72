"""Helpers for the channel tests: settings with every carrier's secrets, fake senders, pushes."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from hotline.config import Settings, load_settings
from hotline.services.outbox import InDoubt, Message, SendFailed

TWILIO_SID = "AC" + "0" * 32
TWILIO_TOKEN = "twilio-test-auth-token"
PUBLIC_URL = "https://hotline.example.cn"
HOTLINE_NUMBER = "+863722123456"
WECHAT_TOKEN = "hotline-wechat-token"
WECHAT_APP_ID = "wx2c2769f8efd9abc2"
WECHAT_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SECRET_KEY = "test-secret-key-for-csrf-and-codes"

CITIZEN = "+8613812345678"


def channel_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {
        "HOTLINE_DATABASE_URL": database_url,
        "HOTLINE_ADMIN_TOKEN": "test-admin-token",
        "HOTLINE_SECRET_KEY": SECRET_KEY,
        "HOTLINE_PUBLIC_URL": PUBLIC_URL,
        "TWILIO_ACCOUNT_SID": TWILIO_SID,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "WECHAT_TOKEN": WECHAT_TOKEN,
        "WECHAT_APP_ID": WECHAT_APP_ID,
        "WECHAT_APP_SECRET": "wechat-app-secret",
        "WECHAT_ENCODING_AES_KEY": WECHAT_AES_KEY,
    }
    env.update(extra)
    return env


def channel_settings(
    database_url: str, tmp_path: Path, env: Mapping[str, str] | None = None, **overrides: Any
) -> Settings:
    config = tmp_path / "channels-config.yaml"
    config.write_text("logging: {format: console}\n", encoding="utf-8")
    base: dict[str, Any] = {
        "twilio": {"phone_number": HOTLINE_NUMBER},
        "channels": {"outbox": {"run_worker": False}},
    }
    merged = _merge(base, overrides)
    return load_settings(
        str(config), environ=dict(env or channel_env(database_url)), overrides=merged
    )


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


_sids = itertools.count(1)


def message_sid() -> str:
    return f"SM{next(_sids):032x}"


def sms_form(
    body: str, *, sid: str | None = None, sender: str = CITIZEN, **extra: str
) -> dict[str, str]:
    return {
        "MessageSid": sid or message_sid(),
        "SmsSid": sid or "",
        "AccountSid": TWILIO_SID,
        "From": sender,
        "To": HOTLINE_NUMBER,
        "Body": body,
        "NumSegments": "1",
        "NumMedia": "0",
        **extra,
    }


def twilio_signature(path: str, form: Mapping[str, str], token: str = TWILIO_TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(PUBLIC_URL + path, dict(form)))


def signed_headers(path: str, form: Mapping[str, str]) -> dict[str, str]:
    return {"X-Twilio-Signature": twilio_signature(path, form)}


def with_query(path: str, **query: str) -> str:
    return f"{path}?{urlencode(query)}" if query else path


@dataclass
class FakeSender:
    """A sender that records what it sends and fails as told (a fake, not a mock)."""

    in_doubt: InDoubt = "resend"
    #: errors to raise, one per call, before sending succeeds
    failures: list[SendFailed] = field(default_factory=list)
    sent: list[Message] = field(default_factory=list)
    #: what the carrier has, for lookup (message key → provider ref)
    carrier: dict[str, str] = field(default_factory=dict)
    lookups: int = 0

    async def send(self, message: Message) -> str | None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)
        ref = f"REF{message.id}-{len(self.sent)}"
        self.carrier[message.key] = ref
        return ref

    async def lookup(self, message: Message) -> str | None:
        self.lookups += 1
        return self.carrier.get(message.key)
