"""One middleware turns every failure into a clear response; bad input never gives a 500.

Under ``/api/`` the body is ``{"error": {"code", "message"}}`` (CONTRACT.md). Elsewhere the
reply is a short readable page (citizens may see it) or plain text for carriers.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from hotline.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    IllegalTransition,
    InvalidField,
    NotFound,
    TooManyAttempts,
)
from hotline.web.keys import MAX_BODY

log = structlog.get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_STATUS_FOR: list[tuple[type[DomainError], int]] = [
    (InvalidField, 422),
    (NotFound, 404),
    (Forbidden, 403),
    (IllegalTransition, 409),
    (Conflict, 409),
    (TooManyAttempts, 429),
]

_DEFAULT_CODES = {
    400: "malformed",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid_field",
    429: "too_many_requests",
}

_PLAIN_MESSAGES = {
    400: "请求格式有误。",
    401: "需要登录或有效的凭证。",
    403: "无权访问。",
    404: "页面不存在。",
    405: "不支持的请求方法。",
    413: "提交的内容过大。",
    500: "系统繁忙，请稍后再试。您提交的内容未丢失，请勿重复提交。",
}


class ApiError(web.HTTPException):
    """An HTTP error with a machine code, raised by handlers for edge validation."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status_code = status
        super().__init__(text=message)
        self.code = code
        self.message = message


def _status_of(exc: DomainError) -> int:
    for cls, status in _STATUS_FOR:
        if isinstance(exc, cls):
            return status
    return 400


def json_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message}},
        status=status,
        dumps=lambda o: json.dumps(o, ensure_ascii=False),
    )


def _is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/open311/")


def _plain(status: int, message: str | None = None) -> web.Response:
    text = message or _PLAIN_MESSAGES.get(status, "请求无法处理。")
    return web.Response(status=status, text=text, content_type="text/plain", charset="utf-8")


def _render(request: web.Request, status: int, code: str, message: str) -> web.Response:
    if _is_api(request):
        return json_error(status, code, message)
    return _plain(status, message if status < 500 else None)


def render_exception(request: web.Request, exc: BaseException) -> web.Response | None:
    """The response for a failure, or None for what must propagate (redirects, cancellation)."""
    if isinstance(exc, ApiError):
        return _render(request, exc.status, exc.code, exc.message)
    if isinstance(exc, DomainError):
        response = _render(request, _status_of(exc), exc.code, exc.message)
        if isinstance(exc, TooManyAttempts):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            return None
        code = _DEFAULT_CODES.get(exc.status, "error")
        message = exc.reason
        if exc.status == 413:
            message = f"请求体超过上限 {request.app[MAX_BODY]} 字节"
        elif exc.text and exc.text != f"{exc.status}: {exc.reason}":
            message = exc.text
        return _render(request, exc.status, code, message)
    if isinstance(exc, Exception):
        log.exception("unhandled error", path=request.path, method=request.method)
        return _render(request, 500, "internal", "服务器内部错误")
    return None


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Exception as exc:
        response = render_exception(request, exc)
        if response is None:
            raise
        return response


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 400/413 with a clear message. No body at all is
    an empty object: where every field is optional that is a whole request, and where one is
    required its absence is a 422 naming it."""
    limit = request.app[MAX_BODY]
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "too_large", f"请求体超过上限 {limit} 字节")
    raw = await request.read()
    if not raw.strip():
        return {}
    ctype = request.content_type
    if ctype not in ("application/json", "") and not ctype.endswith("+json"):
        raise ApiError(400, "unsupported_media_type", "请以 application/json 提交")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "malformed", f"请求体不是有效的 JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "malformed", "请求体必须是 JSON 对象")
    return body
