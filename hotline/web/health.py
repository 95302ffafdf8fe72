"""``/healthz`` (CONTRACT.md) and ``/metrics`` (Prometheus text)."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

import hotline
from hotline.calendar import local_day
from hotline.web.jsonresp import json_response
from hotline.web.keys import CONTEXT, METRICS

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    database = "ok"
    try:
        async with ctx.db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means the database is not ok
        database = f"error: {type(exc).__name__}"
    today = local_day(ctx.clock.now())
    horizon = today + timedelta(days=ctx.config.calendar.lookahead_days)
    ahead = range(today.year, horizon.year + 1)
    uncovered = sorted(set(ctx.calendar.check_years(ahead)) | set(ctx.calendar.uncovered_years))
    calendar_status = "degraded" if uncovered else "ok"
    request.app[METRICS].calendar_degraded.set(1 if uncovered else 0)
    overall = "ok" if database == "ok" and not uncovered else "degraded"
    body = {
        "status": overall,
        "database": database,
        "calendar": {"status": calendar_status, "uncovered_years": uncovered},
        "version": hotline.__version__,
    }
    return json_response(body, status=200 if database == "ok" else 503)


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
