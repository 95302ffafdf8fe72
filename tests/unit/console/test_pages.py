"""Small pieces of the console: where sign-in may lead, how times and due dates read, and how
duplicate texts are compared."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from hotline.calendar import SHANGHAI
from hotline.services.console import similarity
from hotline.web.console.auth import safe_next
from hotline.web.console.pages import fmt_due, fmt_duration, fmt_time, triage_reason

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/console/triage?x=1", "/console/triage?x=1"),
        ("/console", "/console"),
        (None, None),
        ("", None),
        ("https://evil.example/console", None),
        ("//evil.example/console", None),
        ("/mailbox", None),
        ("/console/login?next=/console", None),
        ("/console\\@evil", None),
        ("/console\r\nSet-Cookie: x=1", None),
    ],
)
def test_sign_in_only_returns_to_the_console(value: str | None, expected: str | None) -> None:
    assert safe_next(value) == expected


def test_times_read_like_a_desk_reads_them() -> None:
    assert fmt_time(NOW.replace(hour=9, minute=5), NOW) == "09:05"
    assert fmt_time(NOW - timedelta(days=1), NOW) == "11-25 10:00"
    assert fmt_time(NOW - timedelta(days=400), NOW) == "2025-10-22 10:00"
    assert fmt_time("2026-11-26T01:30:00+00:00", NOW) == "09:30"
    assert fmt_time("not a time", NOW) == "not a time"
    assert fmt_time(None, NOW) == ""
    assert fmt_duration(None) == "—"
    assert fmt_duration(42.7) == "42秒"
    assert fmt_duration(125) == "2分05秒"
    assert fmt_duration(3 * 3600 + 60) == "3小时1分"
    assert fmt_due(NOW + timedelta(hours=2), NOW) == "剩余2小时0分"
    assert fmt_due(NOW - timedelta(minutes=5), NOW) == "已超期5分00秒"


def test_triage_reasons_are_labelled_with_what_was_sent() -> None:
    assert triage_reason("type_missing") == "缺少诉求类型"
    assert triage_reason("division_unknown:999999") == "区划未知：999999"
    assert triage_reason("something_new") == "something_new"


def test_similar_stories_score_high_and_different_ones_low() -> None:
    a = "文峰区东关街道停水三天了"
    assert similarity(a, "东关街道还是停水，已经三天了") > 0.3
    assert similarity(a, a) == 1.0
    assert similarity(a, "咨询公积金提取") == 0.0
    assert similarity("", a) == 0.0
