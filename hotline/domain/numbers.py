"""Ticket numbers: ``AY20261126-000123`` (prefix, the Shanghai date of receipt, daily counter)."""

from __future__ import annotations

import re
from datetime import date

NUMBER_RE = re.compile(r"^(?P<prefix>[A-Z]{1,6})(?P<day>\d{8})-(?P<seq>\d{6,})$")


def format_number(prefix: str, day: date, seq: int) -> str:
    if seq < 1:
        raise ValueError("ticket sequence starts at 1")
    return f"{prefix}{day:%Y%m%d}-{seq:06d}"


def is_ticket_number(text: str) -> bool:
    return NUMBER_RE.match(text) is not None


def digits_to_number(prefix: str, digits: str) -> str | None:
    """The number a caller keyed as digits (IVR, SMS): 14 or more digits after the prefix."""
    only = re.sub(r"\D", "", digits)
    if len(only) < 14:
        return None
    return f"{prefix}{only[:8]}-{only[8:]}"
