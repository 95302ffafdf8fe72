"""The signature check decides exactly as twilio's ``RequestValidator.validate``."""

from __future__ import annotations

import pytest
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from hotline.web.carrier import signature_valid

TOKEN = "12345678901234567890123456789012"
FORM = {
    "MessageSid": "SM" + "1" * 32,
    "From": "+8613912345678",
    "To": "+863722123456",
    "Body": "北关区路灯不亮 & <已经一周>",
}
URLS = [
    "https://hotline.example.cn/twilio/sms",
    "https://hotline.example.cn:443/twilio/sms",
    "http://127.0.0.1:8080/twilio/sms",
    "http://127.0.0.1/twilio/sms",
    "http://127.0.0.1:80/twilio/sms",
    "https://hotline.example.cn/ivr/menu?step=2&call=CA1",
]


@pytest.mark.parametrize("called", URLS)
@pytest.mark.parametrize("signed", URLS)
def test_same_answer_as_request_validator(called: str, signed: str) -> None:
    validator = RequestValidator(TOKEN)
    for form in (FORM, {}, {**FORM, "Body": "改过的内容"}):
        signature = validator.compute_signature(signed, FORM)
        expected = validator.validate(called, form, signature)
        assert signature_valid(TOKEN, called, form, signature) is expected, (called, signed)


def test_a_wrong_token_or_signature_is_refused() -> None:
    url = URLS[0]
    signature = RequestValidator(TOKEN).compute_signature(url, FORM)
    assert signature_valid(TOKEN, url, FORM, signature)
    assert not signature_valid("another-token", url, FORM, signature)
    assert not signature_valid(TOKEN, url, FORM, signature[:-2] + "AA")
    assert not signature_valid(TOKEN, url, FORM, "")


def test_every_value_of_a_repeated_field_is_signed() -> None:
    """A form field sent twice: Twilio signs both values; so does the check (multidict)."""
    url = URLS[0]
    form = MultiDict([*FORM.items(), ("MediaUrl", "https://a.example/1"), ("MediaUrl", "b")])
    signature = RequestValidator(TOKEN).compute_signature(url, form)
    assert signature_valid(TOKEN, url, form, signature)
    assert RequestValidator(TOKEN).validate(url, form, signature)
    last_only = {**FORM, "MediaUrl": "b"}
    assert not signature_valid(TOKEN, url, last_only, signature)
