"""Twilio's REST API for live calls, behind a small interface (tests use a fake or Prism)."""

from __future__ import annotations

from typing import Protocol

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException

from hotline.adapters.twilio import TwilioRest

#: what talking to Twilio can raise: its API errors, and the network's
FAILURES = (TwilioRestException, TwilioException, aiohttp.ClientError, OSError, TimeoutError)


class GatewayError(Exception):
    """Twilio refused or could not be reached; ``code`` is Twilio's error code when known."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class VoiceGateway(Protocol):
    async def redirect(self, call_sid: str, url: str) -> None:
        """Move a live call to new TwiML fetched from ``url`` (it leaves any queue)."""

    async def update_twiml(self, call_sid: str, twiml: str) -> None:
        """Replace what a live call is doing with this TwiML document."""

    async def add_participant(
        self, conference: str, *, to: str, caller_id: str, status_url: str, ring_seconds: int
    ) -> str:
        """Dial ``to`` into the conference named ``conference``; the new call's SID."""

    async def announce(self, conference_sid: str, url: str) -> None:
        """Play the TwiML at ``url`` to everyone in the conference."""


class TwilioVoiceGateway:
    def __init__(self, rest: TwilioRest) -> None:
        self._client = rest.client

    async def redirect(self, call_sid: str, url: str) -> None:
        try:
            await self._client.calls(call_sid).update_async(url=url, method="POST")
        except FAILURES as exc:
            raise _error(exc) from exc

    async def update_twiml(self, call_sid: str, twiml: str) -> None:
        try:
            await self._client.calls(call_sid).update_async(twiml=twiml)
        except FAILURES as exc:
            raise _error(exc) from exc

    async def add_participant(
        self, conference: str, *, to: str, caller_id: str, status_url: str, ring_seconds: int
    ) -> str:
        try:
            participant = await self._client.conferences(conference).participants.create_async(
                from_=caller_id,
                to=to,
                timeout=ring_seconds,
                status_callback=status_url,
                status_callback_method="POST",
                status_callback_event=["initiated", "ringing", "answered", "completed"],
                end_conference_on_exit=False,
                beep="false",
            )
        except FAILURES as exc:
            raise _error(exc) from exc
        return str(participant.call_sid)

    async def announce(self, conference_sid: str, url: str) -> None:
        try:
            await self._client.conferences(conference_sid).update_async(
                announce_url=url, announce_method="POST"
            )
        except FAILURES as exc:
            raise _error(exc) from exc


def _error(exc: Exception) -> GatewayError:
    if isinstance(exc, TwilioRestException):
        return GatewayError(f"Twilio {exc.status}: {exc.msg}", exc.code)
    return GatewayError(f"Twilio unreachable: {exc}")
