"""Wiring the console into the app: its pages, actions, static files and WebSocket."""

from __future__ import annotations

from aiohttp import web

from hotline.web.console import auth, department, desk, live, supervisor, tickets, triage
from hotline.web.console.pages import STATIC_DIR, install_filters


def setup(app: web.Application) -> None:
    for module in (auth, desk, tickets, triage, supervisor, department, live):
        app.router.add_routes(module.routes)
    app.router.add_static("/console/static", STATIC_DIR, name="console-static")
    install_filters(app)
    live.setup_live(app)
