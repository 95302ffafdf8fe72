"""Fakes of external systems for unit and service tests (integration tests use the real
library against a local peer: Prism for Twilio's REST API)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ivr.gateway import GatewayError


@dataclass
class FakeVoiceGateway:
    """Records what would have been asked of Twilio's REST API."""

    redirects: list[tuple[str, str]] = field(default_factory=list)
    twiml_updates: list[tuple[str, str]] = field(default_factory=list)
    participants: list[dict[str, object]] = field(default_factory=list)
    announcements: list[tuple[str, str]] = field(default_factory=list)
    fail_with: GatewayError | None = None

    def _check(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with

    async def redirect(self, call_sid: str, url: str) -> None:
        self._check()
        self.redirects.append((call_sid, url))

    async def update_twiml(self, call_sid: str, twiml: str) -> None:
        self._check()
        self.twiml_updates.append((call_sid, twiml))

    async def add_participant(
        self, conference: str, *, to: str, caller_id: str, status_url: str, ring_seconds: int
    ) -> str:
        self._check()
        sid = f"CA{len(self.participants):032d}"
        self.participants.append(
            {"conference": conference, "to": to, "from": caller_id, "status_url": status_url}
        )
        return sid

    async def announce(self, conference_sid: str, url: str) -> None:
        self._check()
        self.announcements.append((conference_sid, url))
