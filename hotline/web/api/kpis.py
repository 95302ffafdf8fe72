"""``GET /api/v1/kpis?period=&by=`` and ``GET /api/v1/kpis/ranking?year=`` for supervisors and
administrators (条例第五十一条). Definitions: docs/kpis.md."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hotline.domain.errors import InvalidField
from hotline.domain.vocabulary import ActorKind
from hotline.reports.indicators import NAMES
from hotline.reports.periods import YEARS, Period, PeriodError, parse_period
from hotline.services import kpis
from hotline.web.api.serialize import iso
from hotline.web.auth import require
from hotline.web.jsonresp import json_response
from hotline.web.keys import CONTEXT

SUPERVISORS = (ActorKind.ADMIN, ActorKind.SUPERVISOR)

routes = web.RouteTableDef()


def period_json(period: Period) -> dict[str, Any]:
    return {
        "label": period.label,
        "kind": period.kind.value,
        "title": period.title,
        "start": iso(period.start),
        "end": iso(period.end),
    }


@routes.get("/api/v1/kpis")
async def get_kpis(request: web.Request) -> web.Response:
    await require(request, SUPERVISORS)
    text = request.query.get("period", "").strip()
    if not text:
        raise InvalidField("period", "缺少统计周期，例如 period=2026-11")
    try:
        period = parse_period(text)
    except PeriodError as exc:
        raise InvalidField("period", str(exc)) from exc
    by = request.query.get("by") or None
    if by is not None and by not in kpis.GROUPINGS:
        raise InvalidField("by", f"必须是 {'、'.join(kpis.GROUPINGS)} 之一")
    found = await kpis.kpis(request.app[CONTEXT], period, by)
    return json_response(
        {
            "period": period_json(period),
            "by": by,
            "names": NAMES,
            "computed_at": iso(found.computed_at),
            "overall": found.overall.as_dict(),
            "groups": [g.as_dict() for g in found.groups],
        }
    )


@routes.get("/api/v1/kpis/ranking")
async def get_ranking(request: web.Request) -> web.Response:
    await require(request, SUPERVISORS)
    ctx = request.app[CONTEXT]
    text = request.query.get("year", "").strip()
    if not text:
        raise InvalidField("year", "缺少年份，例如 year=2026")
    if not (text.isascii() and text.isdigit() and len(text) == 4) or not (
        YEARS[0] <= int(text) <= YEARS[1]
    ):
        raise InvalidField("year", f"须为 {YEARS[0]} 到 {YEARS[1]} 之间的年份")
    period, ranked = await kpis.ranking(ctx, int(text))
    ref = await ctx.reference.get()
    policy = ctx.config.reports.ranking
    return json_response(
        {
            "year": int(text),
            "period": period_json(period),
            "weights": policy.weights,
            "flag_penalty": policy.flag_penalty,
            "min_assignments": policy.min_assignments,
            "names": NAMES,
            "items": [
                {
                    "rank": r.rank,
                    "department": r.department,
                    "name": kpis.group_name(ref, "unit", r.department),
                    "score": r.score,
                    "flags": r.flags,
                    **r.indicators.as_dict(),
                }
                for r in ranked
            ],
        }
    )
