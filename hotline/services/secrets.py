"""Keys derived from ``HOTLINE_SECRET_KEY``, one per purpose (CSRF tokens, query codes, ...).

Without a configured key a random one is made per context and a warning logged: forms and
codes then work until the process restarts (fine for a demo, not for production).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import weakref

import structlog

from hotline.services.context import Context

log = structlog.get_logger(__name__)

_fallback: weakref.WeakKeyDictionary[Context, bytes] = weakref.WeakKeyDictionary()


def _master(ctx: Context) -> bytes:
    configured = ctx.settings.secrets.secret_key
    if configured:
        return configured.encode()
    key = _fallback.get(ctx)
    if key is None:
        log.warning("HOTLINE_SECRET_KEY is not set: using a random key until restart")
        key = _fallback[ctx] = secrets.token_bytes(32)
    return key


def derive_key(ctx: Context, purpose: str) -> bytes:
    return hmac.new(_master(ctx), f"hotline:{purpose}".encode(), hashlib.sha256).digest()
