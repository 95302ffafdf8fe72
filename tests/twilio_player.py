"""Plays Twilio against the app: signs each webhook with Twilio's own RequestValidator and
follows the ``action`` URLs in the TwiML it gets back, parsed as XML."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element

from aiohttp import web
from aiohttp.test_utils import TestClient
from defusedxml.ElementTree import fromstring
from twilio.request_validator import RequestValidator

PUBLIC_URL = "https://hotline.example.cn"
AUTH_TOKEN = "twilio-test-auth-token"
ACCOUNT_SID = "AC" + "a" * 32


@dataclass
class Reply:
    status: int
    text: str

    @property
    def xml(self) -> Element:
        root: Element = fromstring(self.text)
        assert root.tag == "Response", self.text
        return root

    def verbs(self) -> list[str]:
        return [child.tag for child in self.xml]

    def first(self, path: str) -> Element:
        found = self.xml.find(path)
        assert found is not None, f"no {path} in {self.text}"
        return found


class TwilioPlayer:
    def __init__(self, client: TestClient[Any, web.Application], token: str = AUTH_TOKEN) -> None:
        self.client = client
        self.validator = RequestValidator(token)

    def url(self, path_or_url: str) -> str:
        return path_or_url if path_or_url.startswith("http") else PUBLIC_URL + path_or_url

    async def post(
        self,
        path_or_url: str,
        form: dict[str, str],
        *,
        signature: str | None = None,
        sign: bool = True,
    ) -> Reply:
        url = self.url(path_or_url)
        assert url.startswith(PUBLIC_URL), url
        headers = {}
        if sign:
            headers["X-Twilio-Signature"] = signature or self.validator.compute_signature(url, form)
        response = await self.client.post(url[len(PUBLIC_URL) :], data=form, headers=headers)
        return Reply(response.status, await response.text())


def call_form(call_sid: str, **extra: str) -> dict[str, str]:
    form = {
        "AccountSid": ACCOUNT_SID,
        "CallSid": call_sid,
        "From": "+8613812345678",
        "To": "+863722012345",
        "CallStatus": "in-progress",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }
    form.update(extra)
    return form
