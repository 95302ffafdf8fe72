"""Typed application keys (aiohttp ``web.AppKey``)."""

from __future__ import annotations

from aiohttp import web

from hotline.adapters.twilio import TwilioRest
from hotline.config import Settings
from hotline.metrics import Metrics
from hotline.services.context import Context

SETTINGS = web.AppKey("settings", Settings)
CONTEXT = web.AppKey("context", Context)
METRICS = web.AppKey("metrics", Metrics)
MAX_BODY = web.AppKey("max_body_bytes", int)
#: the Twilio REST client, or None when Twilio is not configured
TWILIO: web.AppKey[TwilioRest | None] = web.AppKey("twilio")
