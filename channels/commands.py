"""What a citizen's text message asks for, when it is not a new matter: pure parsing.

A message that is only a ticket number, or 查询 + a number, asks for the ticket's status;
查询 alone asks for the open tickets; 退订/STOP stops notification SMS and 订阅/START resumes
them; a single digit 1–5 rates the latest reply (CONTRACT.md). Anything else is a matter for
the intake (a new ticket or a follow-up).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Query:
    #: the ticket asked about; None: "my open tickets"
    number: str | None


@dataclass(frozen=True)
class OptOut:
    pass


@dataclass(frozen=True)
class OptIn:
    pass


@dataclass(frozen=True)
class Rate:
    """A single digit 1–5: it rates the latest unrated reply sent to this number (好差评)."""

    level: int


Command = Query | OptOut | OptIn | Rate

_RATING = re.compile(r"^([1-5])[。.!！]?$")


def _normal(text: str) -> str:
    """Full-width letters and digits (常见于手机输入法) to ASCII, trimmed, upper case."""
    return unicodedata.normalize("NFKC", text).strip().upper()


@lru_cache(maxsize=32)
def _words(words: tuple[str, ...]) -> frozenset[str]:
    return frozenset(_normal(w) for w in words)


@lru_cache(maxsize=32)
def _query_re(prefix: str, words: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(_normal(w)) for w in sorted(words, key=len, reverse=True))
    return re.compile(
        rf"^(?P<word>{alternatives})?\s*[:：]?\s*"
        rf"(?:(?:{re.escape(prefix)})?\s*(?P<day>\d{{8}})\s*[-－—]?\s*(?P<seq>\d{{6,}}))?\s*[。.!！]?$"
    )


def parse_command(
    text: str,
    *,
    prefix: str,
    query_words: tuple[str, ...],
    opt_out_words: tuple[str, ...],
    opt_in_words: tuple[str, ...],
) -> Command | None:
    body = _normal(text)
    if not body:
        return None
    if body in _words(opt_out_words):
        return OptOut()
    if body in _words(opt_in_words):
        return OptIn()
    digit = _RATING.match(body)
    if digit is not None:
        return Rate(int(digit.group(1)))
    match = _query_re(prefix, query_words).match(body)
    if match is None:
        return None
    if match["day"] is None:
        return Query(None) if match["word"] else None
    return Query(f"{prefix}{match['day']}-{match['seq']}")
