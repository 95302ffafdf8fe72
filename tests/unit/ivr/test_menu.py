"""TwiML documents of the IVR, built from the config."""

from __future__ import annotations

from datetime import datetime

import pytest
from defusedxml.ElementTree import fromstring
from pydantic import ValidationError

from hotline.calendar import SHANGHAI
from hotline.domain.vocabulary import EmergencyService
from ivr import menu
from ivr.config import IvrConfig, MenuKey, Prompt

CFG = IvrConfig()


def test_keys_and_words_choose() -> None:
    assert menu.choose(CFG, "1", None) == CFG.keys["1"]
    assert menu.choose(CFG, "9#", None) == CFG.keys["9"]
    assert menu.choose(CFG, "5", None) is None
    assert menu.choose(CFG, None, "叫 救护车") == CFG.keys["3"]
    assert menu.choose(CFG, None, "我想咨询一下社保") is None
    assert menu.choose(CFG, None, None) is None


def test_recorded_prompts_play_instead_of_saying() -> None:
    cfg = IvrConfig(greeting=Prompt(play="https://cdn.example.cn/greeting.mp3"))
    root = fromstring(str(menu.greeting(cfg, menu_url="https://h/m", queue_url="https://h/q")))
    gather = root.find("Gather")
    assert gather is not None
    assert gather[0].tag == "Play" and gather[0].text == "https://cdn.example.cn/greeting.mp3"


def test_query_result_reads_digits_and_the_due_day() -> None:
    doc = menu.query_result(
        CFG,
        number="AY20261126-000123",
        status_label="办理中",
        due_at=datetime(2026, 12, 3, 15, 59, 59, tzinfo=SHANGHAI),
    )
    said = fromstring(str(doc)).find("Say")
    assert said is not None and said.text is not None
    assert "2 0 2 6 1 1 2 6 0 0 0 1 2 3" in said.text
    assert "办理中" in said.text and "12月3日" in said.text


def test_emergency_dial_shows_the_service() -> None:
    root = fromstring(
        str(
            menu.emergency_dial(
                CFG, EmergencyService.FIRE, "+863722119119", action_url="https://h/a"
            )
        )
    )
    assert "消防救援119" in (root.find("Say").text or "")  # type: ignore[union-attr]
    assert root.find("Dial/Number").text == "+863722119119"  # type: ignore[union-attr]


def test_config_refuses_nonsense() -> None:
    with pytest.raises(ValidationError):
        MenuKey(action="emergency")
    with pytest.raises(ValidationError):
        MenuKey(action="query", target=EmergencyService.POLICE)
    with pytest.raises(ValidationError):
        Prompt()
    with pytest.raises(ValidationError):
        IvrConfig(keys={"12": MenuKey(action="query")})
