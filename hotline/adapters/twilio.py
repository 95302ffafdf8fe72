"""Twilio's REST client, opened and closed with the app (never at import).

``TWILIO_API_BASE_URL`` points the client at another base URL, such as a local mock of
Twilio's API built from Twilio's own OpenAPI description (tests and CI use Prism).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from hotline.config import Settings


class TwilioHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # twilio is untyped
    """Twilio's async client, sending its credentials as a header.

    The stock client hands aiohttp a ``BasicAuth`` object through ``auth=``, which aiohttp
    3.13+ deprecates (and 4.0 removes); the header it stands for is the same.
    """

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the signature of Twilio's client
        allow_redirects: bool = False,
    ) -> Response:
        if auth is not None:
            headers = {**(headers or {}), "Authorization": _basic(*auth)}
        return await super().request(
            method, url, params, data, headers, None, timeout, allow_redirects
        )


def _basic(login: str, password: str) -> str:
    encode = getattr(aiohttp, "encode_basic_auth", None)
    if encode is not None:  # aiohttp >= 3.13
        return str(encode(login, password))
    return str(aiohttp.BasicAuth(login, password).encode())


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
    http = TwilioHttpClient(timeout=settings.config.twilio.timeout_seconds)
    client = Client(secrets.twilio_account_sid, secrets.twilio_auth_token, http_client=http)
    if secrets.twilio_api_base_url:
        client.api.base_url = secrets.twilio_api_base_url.rstrip("/")
    try:
        yield TwilioRest(client, http, settings.config.twilio.phone_number)
    finally:
        await http.close()
