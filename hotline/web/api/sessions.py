"""``/api/v1/sessions``: a console user signs in for API use and gets a bearer token.

The same sessions as the console's sign-in page (same throttling, same lifetime, same sign-out
everywhere); the token goes in ``Authorization: Bearer``, not in a cookie, so no CSRF token is
needed with it.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from hotline.services import console
from hotline.web.api.bodies import Body, parse_body
from hotline.web.api.serialize import iso
from hotline.web.auth import authenticate, bearer_token
from hotline.web.console import session as console_session
from hotline.web.errors import ApiError, json_error, read_json_object
from hotline.web.jsonresp import json_response
from hotline.web.keys import CONTEXT

routes = web.RouteTableDef()


class SignInBody(Body):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


@routes.post("/api/v1/sessions")
async def sign_in(request: web.Request) -> web.Response:
    body = parse_body(SignInBody, await read_json_object(request))
    result = await console.sign_in(
        request.app[CONTEXT],
        body.username,
        body.password,
        ip=request.remote or "unknown",
        user_agent=request.headers.get("User-Agent"),
    )
    if result.retry_after is not None:
        throttled = json_error(429, "too_many_requests", "登录失败次数过多，请稍后再试")
        throttled.headers["Retry-After"] = str(result.retry_after)
        return throttled
    if result.user is None or result.token is None:
        raise ApiError(401, "unauthorized", "用户名或密码错误")
    user = result.user
    return json_response(
        {
            "token": result.token,
            "expires_at": iso(user.expires_at),
            "user": {"username": user.username, "role": user.role, "department": user.department},
        },
        status=201,
    )


@routes.delete("/api/v1/sessions/current")
async def sign_out(request: web.Request) -> web.Response:
    """Ends the caller's console session (the bearer token or the cookie) everywhere."""
    principal = await authenticate(request)  # a cookie needs its CSRF token here too
    if principal is None or principal.user_id is None:
        raise ApiError(401, "unauthorized", "需要控制台会话(Authorization: Bearer <会话令牌>)")
    ctx = request.app[CONTEXT]
    token = bearer_token(request)
    user = await (console.resolve(ctx, token) if token else console_session.current(request))
    if user is not None:
        await console.sign_out(ctx, user.session_id)
    return web.Response(status=204)
