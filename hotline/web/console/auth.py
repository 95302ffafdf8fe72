"""Signing in and out of the console.

The sign-in form is protected by :mod:`hotline.web.csrf` (no session exists yet); signing out
needs the session's own token. Failed attempts are throttled per user name and per address
(``hotline.services.console.sign_in``); a locked attempt gets 429 with ``Retry-After``.
"""

from __future__ import annotations

import math
from typing import Any

import structlog
from aiohttp import web

from hotline.services import console
from hotline.web import csrf
from hotline.web.console import session
from hotline.web.console.pages import error_page, home_for, render
from hotline.web.keys import CONTEXT

log = structlog.get_logger(__name__)

routes = web.RouteTableDef()

MAX_FIELD = 200


def safe_next(value: str | None) -> str | None:
    """Only a console path of this site (no other host, no scheme) is followed after sign-in."""
    if not value or not value.startswith("/console") or value.startswith("//"):
        return None
    if any(c in value for c in "\\\r\n") or value.startswith("/console/login"):
        return None
    return value


async def _login_page(
    request: web.Request, *, error: str | None = None, status: int = 200, username: str = ""
) -> web.Response:
    context: dict[str, Any] = {
        "form_token": csrf.form_token(request),
        "form_field": csrf.FIELD,
        "error": error,
        "username": username,
        "next": safe_next(request.query.get("next")) or "",
    }
    response = await render(request, None, "console/login.html", context, status=status)
    csrf.remember(request, response)
    return response


def see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


@routes.get("/console")
async def home(request: web.Request) -> web.StreamResponse:
    user = await session.current(request)
    raise web.HTTPFound(home_for(user.role) if user is not None else "/console/login")


@routes.get("/console/login")
async def login_form(request: web.Request) -> web.StreamResponse:
    user = await session.current(request)
    if user is not None:
        raise web.HTTPFound(safe_next(request.query.get("next")) or home_for(user.role))
    return await _login_page(request)


@routes.post("/console/login")
async def login(request: web.Request) -> web.StreamResponse:
    if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return await _login_page(request, error="请通过登录页面提交", status=415)
    form = await request.post()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    username = fields.get("username", "").strip()[:MAX_FIELD]
    password = fields.get("password", "")[:MAX_FIELD]
    if not csrf.valid(request, fields.get(csrf.FIELD)):
        return await _login_page(
            request, error="页面已过期或来源无法确认，请重新登录", status=403, username=username
        )
    if not username or not password:
        return await _login_page(request, error="请输入用户名和密码", status=422, username=username)
    ctx = request.app[CONTEXT]
    result = await console.sign_in(
        ctx,
        username,
        password,
        ip=request.remote or "unknown",
        user_agent=request.headers.get("User-Agent"),
    )
    if result.retry_after is not None:
        minutes = max(1, math.ceil(result.retry_after / 60))
        log.warning("console sign-in throttled", username=username, ip=request.remote)
        response = await _login_page(
            request,
            error=f"登录失败次数过多，请 {minutes} 分钟后再试",
            status=429,
            username=username,
        )
        response.headers["Retry-After"] = str(result.retry_after)
        return response
    if result.user is None or result.token is None:
        log.info("console sign-in failed", username=username, ip=request.remote)
        return await _login_page(request, error="用户名或密码错误", status=401, username=username)
    log.info("console sign-in", username=username, role=result.user.role)
    target = safe_next(fields.get("next")) or home_for(result.user.role)
    response = see_other(target)
    session.set_cookie(request, response, result.token)
    return response


@routes.post("/console/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    user = await session.current(request)
    if user is None:
        raise web.HTTPSeeOther("/console/login")
    form = await request.post()
    if not session.csrf_ok(request, user, form.get(session.FIELD)):
        return await error_page(request, user, 403, "页面已过期或来源无法确认，请刷新后重试")
    await console.sign_out(request.app[CONTEXT], user.session_id)
    response = see_other("/console/login")
    session.clear_cookie(request, response)
    return response
