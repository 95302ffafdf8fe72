"""Phone numbers: E.164 through ``phonenumbers``; what does not parse is kept raw, never dropped."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import phonenumbers


@dataclass(frozen=True)
class Phone:
    raw: str
    e164: str | None  # None when the input is not a valid number

    @property
    def parsed(self) -> bool:
        return self.e164 is not None


_COUNTRY_CODE_DIGITS = frozenset("123456789")


@functools.lru_cache(maxsize=8192)
def normalise_phone(raw: str, region: str = "CN") -> Phone:
    """E.164 of ``raw`` read in ``region``. Cached: the same caller's number is parsed by the
    channel and again by the intake, and parsing is the costly part of a small request."""
    return _normalise(raw, region)


def _normalise(raw: str, region: str) -> Phone:
    text = raw.strip()
    # phonenumbers reads a number in international format (a "+" and its country code, as
    # carriers send the sender's number) by that code and uses the default region only for a
    # number in national format; parsed without one, the same number takes half the time. No
    # country code begins with 0: after "+0" the region still counts ("+0049..." in China is
    # "00", its international prefix, and a German number).
    international = text[:1] == "+" and text[1:2] in _COUNTRY_CODE_DIGITS
    try:
        number = phonenumbers.parse(text, None if international else region)
    except phonenumbers.NumberParseException:
        return Phone(raw=text, e164=None)
    if not phonenumbers.is_valid_number(number):
        return Phone(raw=text, e164=None)
    return Phone(
        raw=text, e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    )


def mask_phone(e164_or_raw: str | None) -> str | None:
    """138****5678-style masking for confidential tickets and public pages."""
    if not e164_or_raw:
        return None
    digits = e164_or_raw
    if digits.startswith("+86"):
        digits = digits[3:]
    if len(digits) <= 4:
        return "*" * len(digits)
    keep_head = 3 if len(digits) >= 7 else 1
    return digits[:keep_head] + "*" * (len(digits) - keep_head - 4) + digits[-4:]
