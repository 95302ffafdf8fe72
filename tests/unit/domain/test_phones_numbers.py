from __future__ import annotations

from datetime import date

import pytest

from hotline.domain.numbers import digits_to_number, format_number, is_ticket_number
from hotline.domain.phones import mask_phone, normalise_phone


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("13812345678", "+8613812345678"),
        ("+86 138 1234 5678", "+8613812345678"),
        ("0372-2345678", "+863722345678"),  # an Anyang landline
        ("8613812345678", "+8613812345678"),  # country code without "+"
        ("12345", None),
        ("call me", None),
        ("", None),
    ],
)
def test_normalise(raw: str, e164: str | None) -> None:
    phone = normalise_phone(raw)
    assert phone.e164 == e164
    assert phone.raw == raw.strip()


def test_mask() -> None:
    assert mask_phone("+8613812345678") == "138****5678"
    assert mask_phone("0372") == "****"
    assert mask_phone(None) is None


def test_ticket_numbers() -> None:
    assert format_number("AY", date(2026, 11, 26), 123) == "AY20261126-000123"
    assert is_ticket_number("AY20261126-000123")
    assert not is_ticket_number("AY2026112-000123")
    assert digits_to_number("AY", "20261126000123") == "AY20261126-000123"
    assert digits_to_number("AY", "2026") is None
    with pytest.raises(ValueError):
        format_number("AY", date(2026, 11, 26), 0)
