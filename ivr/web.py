"""Twilio voice webhooks and the call API, registered on the app by :func:`setup`."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()


def setup(app: web.Application) -> None:
    app.router.add_routes(routes)
