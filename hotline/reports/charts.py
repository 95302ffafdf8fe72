"""The report's charts, drawn with matplotlib (Agg, no display) to PNG.

Labels are Chinese, so the charts need a font with Chinese glyphs: Debian's
``fonts-noto-cjk``, ``fonts-wqy-zenhei`` or ``fonts-wqy-microhei`` (``fc-list :lang=zh``
lists what is installed). Without one, charts fall back to codes and digits instead of
drawing empty boxes, and say so: a warning in the log and a note in the report.

Figures are made with the object API (``matplotlib.figure.Figure``), not ``pyplot``: no global
state, so reports can be drawn in a worker thread while the server runs.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hotline.reports.gather import Count, Point, ReportData

log = structlog.get_logger(__name__)

#: fonts known to carry Simplified Chinese, best first
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
    "AR PL UMing CN",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
)
NO_FONT_NOTE = (
    "未找到中文字体，图表标签以代码显示。请安装 fonts-noto-cjk 或 fonts-wqy-zenhei"
    "(Debian: apt-get install fonts-noto-cjk)。"
)
#: the hotline's colours (the header's red first)
PALETTE = ("#b71c1c", "#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#9e9d24", "#5d4037")
LEVEL_COLOURS = ("#2e7d32", "#66bb6a", "#c0ca33", "#ef6c00", "#b71c1c")


@dataclass(frozen=True)
class Chart:
    name: str  # the file name's stem: trend, channels, ...
    title: str
    png: bytes


@functools.cache
def cjk_font() -> str | None:
    """The family name of an installed font with Chinese glyphs, or None.

    matplotlib caches its font list; a font installed after the cache was built is looked for
    among the system's font files too."""
    found = _known_cjk_font()
    if found is None:
        known = {f.fname for f in font_manager.fontManager.ttflist}
        for path in font_manager.findSystemFonts():
            if path not in known:
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
        found = _known_cjk_font()
    return found


def _known_cjk_font() -> str | None:
    names = {f.name for f in font_manager.fontManager.ttflist}
    for name in CJK_FONTS:
        if name in names:
            return name
    for entry in font_manager.fontManager.ttflist:  # any other font that has the glyphs
        try:
            face = font_manager.get_font(entry.fname)
        except (OSError, RuntimeError):
            continue
        if all(face.get_char_index(ord(c)) for c in "安阳热线"):
            return str(entry.name)
    return None


def _figure(width: float = 8, height: float = 3.6) -> Figure:
    figure = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight", facecolor="white")
    return buffer.getvalue()


class Painter:
    """Draws one report's charts with the font it found (or codes without one)."""

    def __init__(self, font: str | None) -> None:
        self.font = font

    def label(self, count: Count) -> str:
        return count.name if self.font else (count.key or "-")

    def text(self, chinese: str, plain: str) -> str:
        return chinese if self.font else plain

    def plain(self, label: str) -> str:
        """A label as it is, or without its Chinese characters when no font can draw them."""
        return label if self.font else "".join(c for c in label if c.isascii()) or "-"

    def _style(self, figure: Figure) -> None:
        if self.font:
            for ax in figure.axes:
                for item in [*ax.get_xticklabels(), *ax.get_yticklabels()]:
                    item.set_fontfamily(self.font)
                for item in (ax.title, ax.xaxis.label, ax.yaxis.label):
                    item.set_fontfamily(self.font)
                legend = ax.get_legend()
                if legend is not None:
                    for item in legend.get_texts():
                        item.set_fontfamily(self.font)

    def trend(self, points: Sequence[Point], unit: str) -> bytes:
        figure = _figure()
        ax = figure.add_subplot()
        xs = list(range(len(points)))
        drawn = [p for p in points if not p.future]
        ax.plot(xs[: len(drawn)], [p.count for p in drawn], color=PALETTE[0], marker="o",
                markersize=3, linewidth=2, label=self.text("本期", "this period"))  # fmt: skip
        ax.plot(xs, [p.previous for p in points], color=PALETTE[1], linestyle="--", linewidth=1.5,
                label=self.text("上期", "previous"))  # fmt: skip
        ax.fill_between(xs[: len(drawn)], [p.count for p in drawn], color=PALETTE[0], alpha=0.08)
        step = max(1, len(points) // 12)
        ax.set_xticks(xs[::step], [self.plain(p.label) for p in points][::step])
        ax.set_ylabel(self.text("工单量", "tickets"))
        ax.set_xlabel(self.text(f"按{unit}", "day" if unit == "日" else "hour"))
        ax.grid(axis="y", alpha=0.3)
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper left", frameon=False)
        self._style(figure)
        return _png(figure)

    def bars(self, counts: Sequence[Count], *, horizontal: bool = False, top: int = 12) -> bytes:
        items = list(counts)[:top]
        figure = _figure(8, max(2.6, 0.34 * len(items) + 1) if horizontal else 3.6)
        ax = figure.add_subplot()
        labels = [self.label(c) for c in items]
        values = [c.count for c in items]
        colours = [PALETTE[i % len(PALETTE)] for i in range(len(items))]
        if horizontal:
            positions = list(range(len(items)))[::-1]
            ax.barh(positions, values, color=colours)
            ax.set_yticks(positions, labels)
            for y, v in zip(positions, values, strict=True):
                ax.text(v, y, f" {v}", va="center", fontsize=8)
            ax.grid(axis="x", alpha=0.3)
        else:
            positions = list(range(len(items)))
            ax.bar(positions, values, color=colours)
            ax.set_xticks(positions, labels, rotation=20 if len(items) > 5 else 0, ha="right"
                          if len(items) > 5 else "center")  # fmt: skip
            for x, v in zip(positions, values, strict=True):
                ax.text(x, v, str(v), ha="center", va="bottom", fontsize=8)
            ax.grid(axis="y", alpha=0.3)
        self._style(figure)
        return _png(figure)

    def ratings(self, counts: Sequence[Count]) -> bytes:
        figure = _figure(8, 3.2)
        ax = figure.add_subplot()
        positions = list(range(len(counts)))
        values = [c.count for c in counts]
        ax.bar(positions, values, color=list(LEVEL_COLOURS[: len(counts)]))
        ax.set_xticks(positions, [self.label(c) for c in counts])
        for x, v in zip(positions, values, strict=True):
            ax.text(x, v, str(v), ha="center", va="bottom", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        self._style(figure)
        return _png(figure)


def draw(data: ReportData) -> list[Chart]:
    """Every chart of the report (no title inside: the document titles them)."""
    font = cjk_font()
    if font is None:
        log.warning("no CJK font: chart labels fall back to codes", hint=NO_FONT_NOTE)
        if NO_FONT_NOTE not in data.notes:
            data.notes.append(NO_FONT_NOTE)
    painter = Painter(font)
    trend_title = "每小时工单量(与上期对比)" if data.trend_unit == "时" else (
        "每月工单量(与上期对比)" if data.trend_unit == "月" else "每日工单量(与上期对比)"
    )  # fmt: skip
    charts = [
        Chart("trend", trend_title, painter.trend(data.trend, data.trend_unit)),
        Chart("channels", "按渠道", painter.bars(data.by_channel)),
        Chart("types", "按诉求类型", painter.bars(data.by_type)),
        Chart("categories", "按诉求分类(前12)", painter.bars(data.by_category, horizontal=True)),
        Chart("divisions", "按行政区划", painter.bars(data.by_division, horizontal=True)),
        Chart("ratings", "好差评分布", painter.ratings(data.ratings)),
    ]
    return charts
