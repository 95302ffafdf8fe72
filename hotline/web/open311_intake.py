"""``POST requests``: a GeoReport v2 form, checked at the edge, as the one intake value.

The form is what the specification says (``application/x-www-form-urlencoded``; multipart is
read too, but files are refused: v2 carries pictures as ``media_url``). Everything the client
sent except the ``api_key`` is kept in the contact's payload; the phone and the name go to the
citizen record, never to a public request.

Idempotency: the contact's ``channel_ref`` is ``open311:<token>``, where the token is a hash
of the platform and either the client's ``Idempotency-Key`` header or, without one, the whole
form. A client that retries (the same form, or the same key) gets the first request back
instead of a second ticket; the token is also what ``tokens/{token}`` resolves.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hotline.domain.intake import IntakeValue
from hotline.domain.vocabulary import Channel, TicketType
from hotline.services.reference import ReferenceData
from hotline.web.open311_format import Open311Error
from hotline.web.open311_requests import channel_ref
from hotline.web.open311_services import (
    DIVISION_ATTRIBUTE,
    OFFERED_TYPES,
    TYPE_ATTRIBUTE,
    parse_division,
    parse_type,
)

#: GeoReport v2 limits ``description`` to 4,000 characters
MAX_DESCRIPTION = 4000
#: longest value of any other field (an address, a URL, an e-mail...)
MAX_FIELD = 1000
#: length of the tokens we hand out (hex digits of SHA-256)
TOKEN_LENGTH = 32
#: the longest Idempotency-Key we take
MAX_IDEMPOTENCY_KEY = 200

#: field → longest value; fields not listed (including unknown ones) may be MAX_FIELD long
_LIMITS = {
    "first_name": 50,
    "last_name": 50,
    "phone": 64,
    "email": 254,
    "device_id": 200,
    "account_id": 200,
    "address_string": 500,
    "address_id": 200,
    "media_url": 2000,
}


@dataclass(frozen=True)
class Submission:
    """A checked form: the intake value to take in, and what to answer with."""

    token: str
    value: IntakeValue
    account_id: str | None


def token_for(platform: str, form: Mapping[str, str], idempotency_key: str | None) -> str:
    if idempotency_key:
        basis = json.dumps(["key", platform, idempotency_key], ensure_ascii=False)
    else:
        fields = sorted((k, v) for k, v in form.items() if k != "api_key")
        basis = json.dumps(["form", platform, fields], ensure_ascii=False)
    return hashlib.sha256(basis.encode()).hexdigest()[:TOKEN_LENGTH]


def is_token(text: str) -> bool:
    return len(text) == TOKEN_LENGTH and all(c in "0123456789abcdef" for c in text)


def _field(form: Mapping[str, str], name: str) -> str | None:
    value = form.get(name, "").strip()
    return value or None


def _coordinate(form: Mapping[str, str], name: str, bound: float) -> float | None:
    text = _field(form, name)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError as exc:
        raise Open311Error(400, f"{name} 不是有效的数字: {text[:40]}") from exc
    if not math.isfinite(value) or not -bound <= value <= bound:
        raise Open311Error(400, f"{name} 超出范围（±{bound:g}）")
    return value


def _attributes(form: Mapping[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in form.items():
        if key.startswith("attribute[") and key.endswith("]") and value.strip():
            found[key[len("attribute[") : -1]] = value.strip()
    return found


def _type(answers: Mapping[str, str]) -> TicketType | None:
    given = answers.get(TYPE_ATTRIBUTE)
    if given is None:
        return None
    parsed = parse_type(given)
    if parsed is None:
        offered = "、".join(f"{t.name.lower()}（{t.value}）" for t in OFFERED_TYPES)
        raise Open311Error(400, f"attribute[{TYPE_ATTRIBUTE}] 须为 {offered} 之一；举报请拨打12345")
    return parsed


def _division(ref: ReferenceData, answers: Mapping[str, str]) -> str | None:
    given = answers.get(DIVISION_ATTRIBUTE)
    if given is None:
        return None
    parsed = parse_division(ref, given)
    if parsed is None:
        raise Open311Error(
            400, f"attribute[{DIVISION_ATTRIBUTE}] 不是本市的县（市、区）: {given[:40]}"
        )
    return parsed


def _check_lengths(form: Mapping[str, str]) -> None:
    for name, value in form.items():
        limit = MAX_DESCRIPTION if name == "description" else _LIMITS.get(name, MAX_FIELD)
        if len(value) > limit:
            raise Open311Error(400, f"{name} 超过 {limit} 个字符")


def parse_submission(
    form: Mapping[str, str],
    *,
    platform: str,
    ref: ReferenceData,
    now: datetime,
    idempotency_key: str | None = None,
) -> Submission:
    """Check the form as GeoReport v2 says (a 400 names the field; an unknown service is a
    404) and build the intake value. The caller has checked the api_key already."""
    if idempotency_key is not None and len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
        raise Open311Error(400, f"Idempotency-Key 超过 {MAX_IDEMPOTENCY_KEY} 个字符")
    _check_lengths(form)
    code = _field(form, "service_code")
    if code is None:
        raise Open311Error(400, "缺少 service_code")
    category = ref.categories.get(code)
    if category is None:
        raise Open311Error(404, f"service_code {code[:64]} 不存在")
    lat = _coordinate(form, "lat", 90)
    lng = _coordinate(form, "long", 180)
    if (lat is None) != (lng is None):
        raise Open311Error(400, "lat 与 long 须同时提供")
    address = _field(form, "address_string")
    if lat is None and address is None:
        if _field(form, "address_id") is not None:
            raise Open311Error(
                400, "本接口没有地址编号：address_id 之外请提供 lat/long 或 address_string"
            )
        raise Open311Error(400, "须提供 lat/long 或 address_string")
    answers = _attributes(form)
    ticket_type = _type(answers)
    division = _division(ref, answers)
    last, first = _field(form, "last_name"), _field(form, "first_name")
    name = "".join(p for p in (last, first) if p) or None  # 姓在前, as Chinese names are written
    token = token_for(platform, form, idempotency_key)
    kept = {k: v for k, v in form.items() if k != "api_key"}
    value = IntakeValue(
        channel=Channel.PLATFORM,
        channel_ref=channel_ref(token),
        received_at=now,
        content=(form.get("description") or "").strip(),
        type=ticket_type,
        category=category.code,
        address=address,
        division=division,
        latitude=lat,
        longitude=lng,
        phone=_field(form, "phone"),
        name=name,
        payload=_payload(platform, token, kept, idempotency_key),
    )
    return Submission(token=token, value=value, account_id=_field(form, "account_id"))


def _payload(
    platform: str, token: str, form: dict[str, str], idempotency_key: str | None
) -> dict[str, Any]:
    # Namespaced: a payload with top-level "platform" and "external_id" would make the
    # notifier POST results to a superior platform's callback (channels.notify).
    record: dict[str, Any] = {"platform": platform, "token": token, "form": form}
    if idempotency_key:
        record["idempotency_key"] = idempotency_key
    return {"open311": record}
