"""Keywords in citizens' own words (jieba, quietly) and charts that are real pictures, with or
without a Chinese font."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image

from hotline.calendar import SHANGHAI
from hotline.reports import charts
from hotline.reports.gather import Count, Point, ReportData
from hotline.reports.keywords import _extractor, top_keywords
from hotline.reports.periods import parse_period

TEXTS = [
    "北关区洹北街道某路段路灯已连续一周不亮，夜间行人通行不便。",
    "文峰区东关街道路灯不亮，晚上很黑。",
    "殷都区水冶街道小区暖气不热，室温只有十五度。",
    "龙安区施工工地夜间施工噪音扰民，影响休息。",
    "北关区路灯坏了好几天了，请回电***********。",
]


def test_keywords_are_citizens_words_and_jieba_is_quiet(capfd: pytest.CaptureFixture[str]) -> None:
    found = top_keywords(TEXTS, 5)
    words = [k.word for k in found]
    assert "路灯" in words
    assert not {"来电人", "反映", "街道"} & set(words)
    lamp = next(k for k in found if k.word == "路灯")
    assert lamp.tickets == 3 and "路灯" in lamp.example
    assert top_keywords([], 5) == [] and top_keywords(["", " "], 5) == []
    # jieba prints nothing and keeps its cache in a folder of its own, not in /tmp itself
    captured = capfd.readouterr()
    assert "Building prefix dict" not in captured.err + captured.out
    import jieba  # noqa: PLC0415 - loaded by the extractor above

    assert jieba.dt.tmp_dir and Path(jieba.dt.tmp_dir).name.startswith("hotline-jieba-")
    assert _extractor() is _extractor()


def data() -> ReportData:
    period = parse_period("2026-11")
    counts = [Count("phone", "12345电话", 40, 30), Count("sms", "手机短信", 12, 15)]
    d = ReportData(
        period, period.previous(), datetime(2026, 11, 26, tzinfo=SHANGHAI), "安阳市",
        period.end,
    )  # fmt: skip
    d.by_channel = d.by_type = d.by_category = d.by_division = counts
    d.trend = [Point(f"11/{i}", i % 7 + 3, i % 5 + 2) for i in range(1, 31)]
    d.ratings = [Count(str(n), name, 10 - n, 3) for n, name in enumerate(["非常满意", "满意"], 1)]
    return d


def colours(png: bytes) -> int:
    with Image.open(io.BytesIO(png)) as image:
        width, height = image.size
        assert width > 300 and height > 150
        return len(image.convert("RGB").getcolors(maxcolors=width * height) or [])


def test_charts_with_the_installed_chinese_font() -> None:
    if charts.cjk_font() is None:
        pytest.skip("no CJK font installed (apt-get install fonts-noto-cjk)")
    d = data()
    drawn = charts.draw(d)
    assert [c.name for c in drawn] == [
        "trend", "channels", "types", "categories", "divisions", "ratings"
    ]  # fmt: skip
    for chart in drawn:
        assert colours(chart.png) >= 8, chart.name
    assert charts.NO_FONT_NOTE not in d.notes


def test_without_a_chinese_font_charts_fall_back_to_codes_and_say_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(charts, "cjk_font", lambda: None)
    d = data()
    d.trend = [Point(f"{h}时", h, 24 - h) for h in range(24)]  # a daily report's hours
    drawn = charts.draw(d)  # warnings are errors here: no "missing glyph" warning either
    assert len(drawn) == 6 and all(colours(c.png) >= 8 for c in drawn)
    assert charts.NO_FONT_NOTE in d.notes
    assert charts.Painter(None).label(Count("phone", "12345电话", 1)) == "phone"
