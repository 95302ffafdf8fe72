"""The console's session cookie and its CSRF tokens.

The cookie holds a random token and its HMAC (key derived from ``HOTLINE_SECRET_KEY``): a forged
or altered cookie is refused before the database is asked. The database keeps only the token's
SHA-256 (``console_sessions``), so signing out ends the session everywhere at once. The cookie is
HttpOnly and SameSite=Strict, Secure over HTTPS (``console.secure_cookie``).

CSRF: every state-changing request made with the cookie carries a token bound to the session —
``csrf_token`` in a form, ``X-CSRF-Token`` in a ``fetch`` — the HMAC of the session's id. Another
site can neither read it nor compute it; a request with a bearer key needs none (no ambient
credential). The sign-in form, before any session exists, uses :mod:`hotline.web.csrf`.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from aiohttp import web

from hotline.services import console
from hotline.services.console import SessionUser
from hotline.services.secrets import derive_key
from hotline.web.keys import CONTEXT

COOKIE = "hotline_console"
HEADER = "X-CSRF-Token"
FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_USER: web.RequestKey[SessionUser | None] = web.RequestKey("console_user")
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{40,64}$")


def _mac(request: web.Request, purpose: str, value: str) -> str:
    key = derive_key(request.app[CONTEXT], purpose)
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def cookie_value(request: web.Request, token: str) -> str:
    return f"{token}.{_mac(request, 'console-session', token)}"


def _token(request: web.Request) -> str | None:
    raw = request.cookies.get(COOKIE, "")
    token, _, mac = raw.partition(".")
    if not _TOKEN_RE.match(token) or len(mac) != 64:
        return None
    if not hmac.compare_digest(mac, _mac(request, "console-session", token)):
        return None
    return token


async def current(request: web.Request) -> SessionUser | None:
    """The signed-in user of this request (looked up once per request)."""
    if _USER in request:
        return request[_USER]
    token = _token(request)
    user = await console.resolve(request.app[CONTEXT], token) if token else None
    request[_USER] = user
    return user


def csrf_token(request: web.Request, user: SessionUser) -> str:
    return _mac(request, "console-csrf", user.session_id)


def csrf_ok(request: web.Request, user: SessionUser, token: object) -> bool:
    return isinstance(token, str) and hmac.compare_digest(token, csrf_token(request, user))


def header_ok(request: web.Request, user: SessionUser) -> bool:
    """A cookie-authenticated request may change state only with the session's token."""
    if request.method in SAFE_METHODS:
        return True
    return csrf_ok(request, user, request.headers.get(HEADER))


def _secure(request: web.Request) -> bool:
    configured = request.app[CONTEXT].config.console.secure_cookie
    return request.secure if configured is None else configured


def set_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    hours = request.app[CONTEXT].config.console.session_hours
    response.set_cookie(
        COOKIE,
        cookie_value(request, token),
        httponly=True,
        samesite="Strict",
        secure=_secure(request),
        path="/",
        max_age=hours * 3600,
    )


def clear_cookie(request: web.Request, response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE, path="/", httponly=True, samesite="Strict", secure=_secure(request))


def token(request: web.Request) -> str | None:
    """The session token of the request's cookie, if the cookie is genuine."""
    return _token(request)
