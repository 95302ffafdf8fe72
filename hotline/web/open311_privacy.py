"""What of a citizen's own text may be shown to anyone on the internet.

Open311 lists are public. The citizen record (name, phone) is never part of a request, but
citizens write their number, their ID card or their name into the text itself ("请联系我
13812345678"). Before a description or an address leaves, the citizen's own name and number
are blanked wherever they appear, and so is anything shaped like a mobile or landline number,
an identity card number or an e-mail address. Over-blanking a number in a complaint costs
little; publishing a whistle-blower's phone cannot be undone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_PATTERNS = [
    # mainland mobile numbers, with or without +86 and separators
    re.compile(r"(?<![0-9A-Za-z])(?:\+?86[\s-]?)?1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}(?!\d)"),
    # landlines with an area code: 0372-5921234, (0372)5921234
    re.compile(r"(?<!\d)[(（]?0\d{2,3}[)）]?[\s-]?\d{7,8}(?!\d)"),
    # identity card numbers (GB 11643): 6 digits of region, a birth date, 3 digits, a check
    re.compile(
        r"(?<![0-9A-Za-z])\d{6}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
        r"(?![0-9A-Za-z])"
    ),
    # e-mail addresses (ASCII only: \w would swallow the Chinese words around one)
    re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"),
]

#: a name shorter than this is not blanked out of text (a one-character name is a common word)
MIN_NAME = 2


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def own_secrets(name: str | None, phones: Iterable[str | None]) -> list[str]:
    """The literal strings of this citizen to blank: their name and their numbers as written
    and as plain digits (with and without the country code)."""
    found: set[str] = set()
    if name and len(name.strip()) >= MIN_NAME:
        found.add(name.strip())
    for phone in phones:
        if not phone:
            continue
        digits = _digits(phone)
        if len(digits) >= 5:  # shorter digit runs are not a phone worth hiding
            found.add(phone.strip())
            found.add(digits)
            if digits.startswith("86") and len(digits) > 11:  # +86 and a mobile
                found.add(digits[2:])
    return sorted(found, key=len, reverse=True)


def redact(text: str | None, secrets: Iterable[str] = ()) -> str | None:
    if not text:
        return text
    for secret in secrets:
        text = text.replace(secret, "*" * len(secret))
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: "*" * len(m.group(0)), text)
    return text
