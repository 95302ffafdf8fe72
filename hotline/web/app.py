"""The aiohttp application factory (no singletons: everything hangs off the app)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from importlib import resources

import aiohttp_jinja2
import jinja2
import structlog
from aiohttp import web

from channels import web as channels_web
from dispatch import web as dispatch_web
from hotline.adapters.twilio import open_twilio
from hotline.bootstrap import bootstrap
from hotline.clock import Clock
from hotline.config import Settings
from hotline.metrics import Metrics
from hotline.services import intake
from hotline.storage import migrate
from hotline.web import health, open311
from hotline.web.api import (
    actions,
    disclosure,
    evaluation,
    knowledge,
    kpis,
    public,
    routing,
    sessions,
    tickets,
)
from hotline.web.console import routes as console
from hotline.web.errors import Handler, error_middleware
from hotline.web.keys import CONTEXT, MAX_BODY, METRICS, SETTINGS, TWILIO
from ivr import web as ivr_web

log = structlog.get_logger("hotline.http")
_http_logger = logging.getLogger("hotline.http")  # the same logger's level, asked directly


@web.middleware
async def observe_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Access log and metrics for every request, by route pattern (not raw path)."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        elapsed = time.perf_counter() - started
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        count, latency = request.app[METRICS].http_children(request.method, route, status)
        count.inc()
        latency.observe(elapsed)
        if _http_logger.isEnabledFor(logging.INFO):  # at WARNING the line is not even built
            log.info(
                "request",
                method=request.method,
                path=request.path,
                status=status,
                ms=round(elapsed * 1000, 2),
            )


async def openapi(request: web.Request) -> web.Response:
    text = resources.files("hotline.web").joinpath("openapi.yaml").read_text(encoding="utf-8")
    return web.Response(text=text, content_type="application/yaml", charset="utf-8")


def create_app(
    settings: Settings, *, clock: Clock | None = None, run_migrations: bool = True
) -> web.Application:
    app = web.Application(
        middlewares=[observe_middleware, error_middleware],
        client_max_size=settings.config.server.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[MAX_BODY] = settings.config.server.max_body_bytes
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("hotline.web", "templates"),
        autoescape=True,  # citizens' text is shown escaped everywhere
    )

    async def services(app: web.Application) -> AsyncIterator[None]:
        ctx = bootstrap(settings, clock=clock)
        if run_migrations:
            await migrate.upgrade(ctx.db.engine)
        app[CONTEXT] = ctx
        app[METRICS].watch_intake(lambda: intake.batch_counts(ctx))
        yield
        await ctx.db.dispose()

    async def carriers(app: web.Application) -> AsyncIterator[None]:
        async with open_twilio(settings) as client:
            app[TWILIO] = client
            yield

    app.cleanup_ctx.append(services)
    app.cleanup_ctx.append(carriers)
    app.router.add_routes(health.routes)
    app.router.add_routes(tickets.routes)
    app.router.add_routes(actions.routes)
    app.router.add_routes(routing.routes)
    app.router.add_routes(knowledge.routes)
    app.router.add_routes(evaluation.routes)
    app.router.add_routes(open311.routes)
    app.router.add_routes(public.routes)
    app.router.add_routes(disclosure.routes)
    app.router.add_routes(kpis.routes)
    app.router.add_routes(sessions.routes)
    ivr_web.setup(app)
    channels_web.setup(app)
    dispatch_web.setup(app)
    console.setup(app)
    app.router.add_get("/api/v1/openapi.yaml", openapi)
    return app
