"""CSRF protection for HTML forms: stateless tokens bound to a cookie (double submit, signed).

The browser holds a random value in the ``hotline_csrf`` cookie (HttpOnly, SameSite=Lax). A form
carries ``csrf_token`` = issue time + HMAC(key, cookie value + issue time), the key derived from
``HOTLINE_SECRET_KEY``. A post is accepted when the token matches the cookie it came with and
is younger than ``MAX_AGE``. Another site can neither read the cookie nor forge the HMAC.

Usage in a handler::

    token = csrf.form_token(request)        # put it in the form as csrf_token
    response = render(...)
    csrf.remember(request, response)        # sets the cookie when it was new
    ...
    if not csrf.valid(request, form.get(csrf.FIELD)): ...  # on POST
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from aiohttp import web

from hotline.services.secrets import derive_key
from hotline.web.keys import CONTEXT

COOKIE = "hotline_csrf"
FIELD = "csrf_token"
MAX_AGE = timedelta(hours=12)

_NEW_COOKIE = web.RequestKey("csrf_new_cookie", str)
_COOKIE_RE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


def _key(request: web.Request) -> bytes:
    return derive_key(request.app[CONTEXT], "csrf")


def _cookie(request: web.Request) -> str:
    if _NEW_COOKIE in request:
        return request[_NEW_COOKIE]
    value = request.cookies.get(COOKIE, "")
    if _COOKIE_RE.match(value):
        return value
    value = secrets.token_urlsafe(32)
    request[_NEW_COOKIE] = value
    return value


def _mac(key: bytes, cookie: str, issued: int) -> str:
    return hmac.new(key, f"{cookie}.{issued}".encode(), hashlib.sha256).hexdigest()


def form_token(request: web.Request) -> str:
    """A token for a form on the page being rendered."""
    issued = int(request.app[CONTEXT].clock.now().timestamp())
    return f"{issued}.{_mac(_key(request), _cookie(request), issued)}"


def remember(request: web.Request, response: web.StreamResponse) -> None:
    """Set the cookie on ``response`` if this request made a new one."""
    if _NEW_COOKIE in request:
        response.set_cookie(
            COOKIE,
            request[_NEW_COOKIE],
            httponly=True,
            samesite="Lax",
            secure=request.secure,
            path="/",
            max_age=int(MAX_AGE.total_seconds()) * 2,
        )


def valid(request: web.Request, token: object) -> bool:
    """Whether a posted token matches the request's cookie and is fresh."""
    cookie = request.cookies.get(COOKIE, "")
    if not isinstance(token, str) or not _COOKIE_RE.match(cookie):
        return False
    issued_text, _, mac = token.partition(".")
    if not issued_text.isdigit() or not mac:
        return False
    issued = int(issued_text)
    age = request.app[CONTEXT].clock.now().timestamp() - issued
    if not 0 <= age <= MAX_AGE.total_seconds() + 60:
        return False
    return hmac.compare_digest(mac, _mac(_key(request), cookie, issued))
