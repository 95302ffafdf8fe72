"""Twilio's REST client, opened and closed with the app (never at import).

``TWILIO_API_BASE_URL`` points the client at another base URL, such as a local mock of
Twilio's API built from Twilio's own OpenAPI description (tests and CI use Prism).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from hotline.config import Settings


@dataclass(frozen=True)
class TwilioRest:
    client: Client
    http: AsyncTwilioHttpClient
    #: the hotline's own number (caller ID), from config
    phone_number: str | None


@asynccontextmanager
async def open_twilio(settings: Settings) -> AsyncIterator[TwilioRest | None]:
    """The REST client, or None when no Twilio credentials are configured."""
    secrets = settings.secrets
    if not (secrets.twilio_account_sid and secrets.twilio_auth_token):
        yield None
        return
    http = AsyncTwilioHttpClient(timeout=settings.config.twilio.timeout_seconds)
    client = Client(secrets.twilio_account_sid, secrets.twilio_auth_token, http_client=http)
    if secrets.twilio_api_base_url:
        client.api.base_url = secrets.twilio_api_base_url.rstrip("/")
    try:
        yield TwilioRest(client, http, settings.config.twilio.phone_number)
    finally:
        await http.close()
