"""Dispatch's part of the app: the scheduler's timer and the departments' webhook sender."""

from __future__ import annotations

from aiohttp import web

from channels.web import register_senders
from dispatch.scheduler import setup_scheduler
from dispatch.webhooks import webhook_senders


def setup(app: web.Application) -> None:
    register_senders(app, webhook_senders)
    setup_scheduler(app)
