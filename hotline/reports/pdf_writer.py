"""The report as a PDF (reportlab). Chinese text uses reportlab's built-in CID font STSong-Light
(Adobe's Song face, which PDF readers carry): no font file is embedded or needed. The charts are
the same PNGs as the HTML page's."""

from __future__ import annotations

import io
from collections.abc import Sequence
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import (
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.flowables import Flowable

from hotline.reports.charts import Chart
from hotline.reports.gather import ReportData
from hotline.reports.html_writer import (
    UNIT_COLUMNS,
    change,
    day,
    distributions,
    heading,
    pct,
    when,
)
from hotline.reports.indicators import NAMES

FONT = "STSong-Light"
RED = colors.HexColor("#b71c1c")

_registered = False


def _font() -> str:
    global _registered
    if not _registered:
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
        _registered = True
    return FONT


def _styles() -> dict[str, ParagraphStyle]:
    font = _font()
    return {
        "title": ParagraphStyle(
            "title",
            fontName=font,
            fontSize=17,
            leading=24,
            alignment=TA_CENTER,
            textColor=RED,
            spaceAfter=4,
        ),
        "sub": ParagraphStyle(
            "sub",
            fontName=font,
            fontSize=9,
            leading=13,
            alignment=TA_CENTER,
            textColor=colors.HexColor("#52606d"),
            spaceAfter=8,
        ),
        "h2": ParagraphStyle(
            "h2",
            fontName=font,
            fontSize=13,
            leading=18,
            textColor=RED,
            spaceBefore=10,
            spaceAfter=4,
        ),
        "h3": ParagraphStyle("h3", fontName=font, fontSize=11, leading=15, spaceBefore=6),
        "body": ParagraphStyle("body", fontName=font, fontSize=9.5, leading=14),
        "cell": ParagraphStyle("cell", fontName=font, fontSize=8, leading=10.5),
        "caption": ParagraphStyle(
            "caption",
            fontName=font,
            fontSize=8,
            leading=11,
            textColor=colors.HexColor("#52606d"),
            alignment=TA_CENTER,
        ),
    }


def _p(text: object, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(str(text)), style)


def _table(
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
    style: ParagraphStyle,
    widths: Sequence[float] | None = None,
) -> Table:
    data = [[_p(h, style) for h in header]] + [[_p(c, style) for c in row] for row in rows]
    table = Table(data, colWidths=widths, repeatRows=1, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f0f4f8")),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#cbd2d9")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    return table


def _image(chart: Chart, caption: ParagraphStyle, width: float = 170 * mm) -> Flowable:
    image = Image(io.BytesIO(chart.png))
    scale = width / image.imageWidth
    image.drawWidth = width
    image.drawHeight = image.imageHeight * scale
    return KeepTogether([image, _p(f"图：{chart.title}", caption), Spacer(1, 4)])


def render(data: ReportData, charts: list[Chart], hotspot_days: int, hotspot_min: int) -> bytes:
    s = _styles()
    by_name = {c.name: c for c in charts}
    assert data.kpis is not None and data.unit_kpis is not None  # noqa: S101
    overall = data.kpis.overall.values
    story: list[Flowable] = [
        _p(heading(data), s["title"]),
        _p(
            f"统计周期：{data.period.title}（{day(data.period.start)} 至 {day(data.period.last)}）"
            f"　对比上期：{data.previous.title}　生成时间：{when(data.generated_at)}",
            s["sub"],
        ),
    ]
    story += [_p(f"※ {note}", s["body"]) for note in data.notes]
    story.append(_p("一、总体情况", s["h2"]))
    summary = (
        f"本期受理工单 {data.tickets} 件，上期 {data.tickets_previous} 件，"
        f"环比 {change(data.change)}；"
        f"来电 {data.calls} 通，人工接通 {data.calls_answered} 通；"
        f"市民评价 {data.kpis.overall.ratings} 件，满意率 {pct(overall['satisfaction'])}；"
        f"按时办结率 {pct(overall['on_time'])}，超期工单 {data.overdue_total} 件。"
    )
    story += [
        _p(summary, s["body"]),
        _p("二、诉求趋势", s["h2"]),
        _image(by_name["trend"], s["caption"]),
    ]
    story.append(_p("三、诉求分布", s["h2"]))
    for title, chart, rows in distributions(data):
        story.append(_p(title, s["h3"]))
        story.append(_image(by_name[chart], s["caption"], 150 * mm))
        story.append(
            _table(
                [title[1:], "本期", "上期", "环比"],
                [(c.name, c.count, c.previous, change(c.change)) for c in rows],
                s["cell"],
                [80 * mm, 25 * mm, 25 * mm, 25 * mm],
            )
        )
    story.append(_p("四、热点与聚集性诉求", s["h2"]))
    story.append(
        _p(
            f"同一地点、同一类问题在 {hotspot_days} 天内反映达到 {hotspot_min} 次即列为热点。",
            s["body"],
        )
    )
    status = {"open": "待研究", "studied": "已研究", "new": "本期新发现"}
    story.append(
        _table(
            ["诉求分类", "区划", "街道(乡镇)", "次数", "首次", "最近", "状态"],
            [
                (
                    h.category,
                    h.division,
                    h.place or "—",
                    h.reports,
                    day(h.first),
                    day(h.last),
                    status.get(h.status, h.status),
                )
                for h in data.hotspots
            ]
            or [("本期未发现热点", "", "", "", "", "", "")],
            s["cell"],
        )
    )
    story.append(_p("五、群众关注的主要问题（市民原话关键词）", s["h2"]))
    story.append(
        _table(
            ["关键词", "涉及工单", "市民原话示例"],
            [(k.word, k.tickets, k.example) for k in data.keywords] or [("本期无工单内容", "", "")],
            s["cell"],
            [25 * mm, 20 * mm, 125 * mm],
        )
    )
    story.append(_p("六、办理绩效", s["h2"]))
    story.append(
        _table(
            ["指标", "本期", "分子/分母"],
            [(name, pct(overall[code]), _fraction(overall[code])) for code, name in NAMES.items()],
            s["cell"],
            [50 * mm, 30 * mm, 40 * mm],
        )
    )
    story.append(_p("各承办单位", s["h3"]))
    story.append(
        _table(
            ["承办单位", "派单", *(NAMES[c] for c in UNIT_COLUMNS)],
            [
                (g.name, g.values.assignments, *(pct(g.values.values[c]) for c in UNIT_COLUMNS))
                for g in data.unit_kpis.groups
                if g.key
            ],
            s["cell"],
        )
    )
    story.append(_p("七、超期工单", s["h2"]))
    story.append(
        _p(f"办理期限在本期内届满而未按期答复的工单共 {data.overdue_total} 件。", s["body"])
    )
    if data.overdue:
        story.append(
            _table(
                ["工单编号", "诉求分类", "承办单位", "办理期限", "答复时间", "超期(小时)"],
                [
                    (
                        o.number,
                        o.category,
                        o.department,
                        when(o.due_at),
                        when(o.replied_at) or "未答复",
                        o.hours,
                    )
                    for o in data.overdue
                ],
                s["cell"],
                [36 * mm, 34 * mm, 34 * mm, 24 * mm, 24 * mm, 20 * mm],
            )
        )
    story.append(_p("八、好差评", s["h2"]))
    story.append(_image(by_name["ratings"], s["caption"], 150 * mm))
    story.append(_p(f"本期差评共 {data.bad_ratings_total} 件。", s["body"]))
    if data.bad_ratings:
        story.append(
            _table(
                ["工单编号", "诉求分类", "承办单位", "评价", "评价时间", "复核"],
                [
                    (b.number, b.category, b.department, b.level, when(b.rated_at), b.review)
                    for b in data.bad_ratings
                ],
                s["cell"],
                [36 * mm, 34 * mm, 34 * mm, 20 * mm, 26 * mm, 22 * mm],
            )
        )
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=heading(data),
        author=f"{data.city}12345政务服务便民热线",
        subject=data.period.title,
    )
    document.build(story)
    return buffer.getvalue()


def _fraction(ratio: object) -> str:
    numerator = getattr(ratio, "numerator", None)
    if numerator is None:
        return "—"
    return f"{numerator}/{getattr(ratio, 'denominator', 0)}"
