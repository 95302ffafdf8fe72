"""What a text message asks for: status queries, 退订/订阅, or a matter for the intake."""

from __future__ import annotations

import pytest

from channels.commands import OptIn, OptOut, Query, parse_command

WORDS = {
    "prefix": "AY",
    "query_words": ("查询", "查", "CX"),
    "opt_out_words": ("退订", "TD", "STOP"),
    "opt_in_words": ("订阅", "START"),
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("AY20261126-000123", Query("AY20261126-000123")),
        ("ay20261126-000123", Query("AY20261126-000123")),
        ("查询AY20261126-000123", Query("AY20261126-000123")),
        ("查询 AY20261126000123", Query("AY20261126-000123")),
        ("查询：20261126-000123。", Query("AY20261126-000123")),
        ("２０２６１１２６０００１２３", Query("AY20261126-000123")),  # full-width digits
        ("cx 20261126000123", Query("AY20261126-000123")),
        ("查询", Query(None)),
        ("退订", OptOut()),
        (" stop ", OptOut()),
        ("td", OptOut()),
        ("订阅", OptIn()),
        ("查询一下公积金怎么提取", None),
        ("我家门口路灯不亮 AY20261126-000123", None),
        ("12345", None),
        ("", None),
        ("退订了吗？为什么还收到短信", None),
    ],
)
def test_parse_command(text: str, expected: object) -> None:
    assert parse_command(text, **WORDS) == expected  # type: ignore[arg-type]
