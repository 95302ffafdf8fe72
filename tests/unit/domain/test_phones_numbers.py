from __future__ import annotations

from datetime import date

import phonenumbers
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

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


_INTERNATIONAL = st.one_of(
    # well-formed numbers of several countries, in the layouts carriers and people use
    st.tuples(
        st.sampled_from(["86", "1", "44", "81", "852", "886", "7", "49", "971", "0", "999"]),
        st.text(alphabet="0123456789", min_size=1, max_size=14),
        st.sampled_from(["", " ", "-", "(", ")", "  "]),
    ).map(lambda t: f"+{t[0]}{t[2]}{t[1][:3]}{t[2]}{t[1][3:]}"),
    # anything after a plus sign
    st.text(alphabet="0123456789 -().+x#*abc", max_size=20).map(lambda t: "+" + t),
)


@settings(max_examples=400, deadline=None)
@given(_INTERNATIONAL)
@example("+8613812345678")
@example("+86 372 234 5678")
@example("+1 650-253-0000")
@example("+44 20 7946 0958")
@example("+852 2123 4567")
@example("+86")
@example("+004930000")  # "00" is China's international prefix: the region counts here
def test_an_international_number_reads_the_same_without_the_default_region(text: str) -> None:
    """``normalise_phone`` parses "+" and a country code without the default region (faster);
    phonenumbers gives such a number the same reading, or the same refusal, with it, and
    ``normalise_phone`` reads every "+..." as phonenumbers does with the region."""

    def reading(region: str | None) -> str | None:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_valid_number(number):
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    if text[1:2] in set("123456789"):  # a country code: the region does not count
        assert reading(None) == reading("CN")
    assert normalise_phone(text).e164 == reading("CN")


def test_the_examples_above_are_read_as_numbers() -> None:
    assert normalise_phone("+86 372 234 5678").e164 == "+863722345678"
    assert normalise_phone("+1 650-253-0000").e164 == "+16502530000"
    assert normalise_phone("+44 20 7946 0958").e164 == "+442079460958"
