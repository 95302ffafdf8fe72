"""What every console page shares: the role check, rendering with the layout's context, the
navigation by role, Jinja filters (Asia/Shanghai times, names of codes) and security headers.

Every page and every console action checks the role on the server: a page for another role is a
403 page, never a hidden link only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
from aiohttp import web

from hotline.calendar import local_day, to_shanghai
from hotline.domain.errors import Conflict, DomainError, Forbidden, IllegalTransition, InvalidField
from hotline.domain.errors import NotFound as DomainNotFound
from hotline.domain.phones import mask_phone
from hotline.domain.vocabulary import CHANNEL_LABELS, STATUS_LABELS, Channel, Status
from hotline.services.console import SessionUser
from hotline.services.reference import ReferenceData
from hotline.web.console import session
from hotline.web.errors import ApiError, json_error
from hotline.web.keys import CONTEXT

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

AGENT, SUPERVISOR, DEPARTMENT, ADMIN = "agent", "supervisor", "department", "admin"
STAFF = frozenset({AGENT, SUPERVISOR, ADMIN})
SUPERVISORS = frozenset({SUPERVISOR, ADMIN})
DEPARTMENTS = frozenset({DEPARTMENT})
EVERYONE = STAFF | DEPARTMENTS

ROLE_LABELS = {AGENT: "坐席", SUPERVISOR: "值班长", DEPARTMENT: "承办单位", ADMIN: "管理员"}
AGENT_STATE_LABELS = {
    "available": "示闲",
    "on_call": "通话中",
    "wrap_up": "话后整理",
    "offline": "离线",
}
CALL_STAGE_LABELS = {
    "menu": "语音菜单",
    "query": "自助查询",
    "emergency": "紧急转接",
    "queued": "排队中",
    "connecting": "振铃中",
    "with_agent": "通话中",
    "conference": "三方通话",
    "voicemail": "留言",
    "ended": "已结束",
}
ASSIGNMENT_STATUS_LABELS = {
    "dispatched": "待签收",
    "signed": "已签收",
    "in_progress": "办理中",
    "suspended": "暂缓办理",
    "return_pending": "退回待审核",
    "returned": "已退回",
    "replied": "已答复",
    "closed": "已办结",
}
TRANSFER_RESULT_LABELS = {
    "pending": "转接中",
    "answered": "转接成功",
    "busy": "对方忙",
    "no-answer": "无人接听",
    "failed": "转接失败",
    "canceled": "已取消",
}
PRIORITY_LABELS = {
    "emergency_transfer_failed": "紧急转接未成功",
    "elderly_or_disabled": "老年/残障",
    "repeat_caller": "24小时内重复来电",
}
TRIAGE_REASON_LABELS = {
    "phone_unparsed": "号码无法识别",
    "type_missing": "缺少诉求类型",
    "content_empty": "内容为空",
    "category_unknown": "分类未知",
    "division_unknown": "区划未知",
    "street_unknown": "街道未知",
    "street_not_in_division": "街道与区划不符",
    "location_invalid": "位置无效",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PageHandler = Callable[[web.Request, SessionUser], Awaitable[web.StreamResponse]]

_NAV: list[tuple[frozenset[str], str, str, str]] = [
    (STAFF, "/console/desk", "坐席工作台", "desk"),
    (STAFF, "/console/triage", "分派队列", "triage"),
    (STAFF, "/console/tickets", "工单查询", "tickets"),
    (SUPERVISORS, "/console/wallboard", "监控大屏", "wallboard"),
    (SUPERVISORS, "/console/returns", "退回审核", "returns"),
    (SUPERVISORS, "/console/extensions", "延期审批", "extensions"),
    (SUPERVISORS, "/console/duplicates", "并单", "duplicates"),
    (SUPERVISORS, "/console/escalation", "督办", "escalation"),
    (SUPERVISORS, "/console/hotspots", "热点", "hotspots"),
    (SUPERVISORS, "/console/outbox", "发送失败", "outbox"),
    (DEPARTMENTS, "/console/department", "本单位工单", "department"),
]


def home_for(role: str) -> str:
    if role == DEPARTMENT:
        return "/console/department"
    if role in SUPERVISORS:
        return "/console/wallboard"
    return "/console/desk"


def login_url(request: web.Request) -> str:
    return f"/console/login?next={quote(request.path_qs, safe='')}"


def is_fragment(request: web.Request) -> bool:
    return request.query.get("fragment") == "1"


# -- names and times ---------------------------------------------------------------------------


class Names:
    """Codes to the names staff know, from the cached reference data."""

    def __init__(self, ref: ReferenceData) -> None:
        self._ref = ref

    def dept(self, code: str | None) -> str:
        if not code:
            return ""
        found = self._ref.departments.get(code)
        return found.name if found is not None else code

    def division(self, code: str | None) -> str:
        if not code:
            return ""
        found = self._ref.divisions.get(code)
        return found.name if found is not None else code

    def category(self, code: str | None) -> str:
        if not code:
            return ""
        found = self._ref.categories.get(code)
        return found.name if found is not None else code

    def categories(self) -> list[tuple[str, str]]:
        return sorted(((c.code, c.name) for c in self._ref.categories.values()), key=_by_code)

    def counties(self) -> list[tuple[str, str]]:
        return sorted(
            ((d.code, d.name) for d in self._ref.divisions.values() if d.level == "county"),
            key=_by_code,
        )

    def departments(self) -> list[tuple[str, str]]:
        return sorted(
            ((d.code, d.name) for d in self._ref.departments.values() if d.active),
            key=lambda item: (item[0].startswith("GOV-"), item[0]),
        )


def _by_code(item: tuple[str, str]) -> str:
    return item[0]


def fmt_time(when: datetime | str | None, now: datetime | None = None) -> str:
    """``10:05`` today, ``11-25 10:05`` this year, else the full date."""
    if when is None or when == "":
        return ""
    if isinstance(when, str):
        try:
            parsed = datetime.fromisoformat(when)
        except ValueError:
            return when
    else:
        parsed = when
    local = to_shanghai(parsed)
    if now is not None:
        today = local_day(now)
        if local.date() == today:
            return f"{local:%H:%M}"
        if local.year == today.year:
            return f"{local:%m-%d %H:%M}"
    return f"{local:%Y-%m-%d %H:%M}"


def fmt_full(when: datetime | str | None) -> str:
    return fmt_time(when, None)


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}小时{minutes}分"
    if minutes:
        return f"{minutes}分{secs:02d}秒"
    return f"{secs}秒"


def fmt_due(due: datetime | None, now: datetime) -> str:
    """How long until (or since) a due time, the way a desk reads it."""
    if due is None:
        return ""
    seconds = (due - now).total_seconds()
    if seconds < 0:
        return "已超期" + fmt_duration(-seconds)
    return "剩余" + fmt_duration(seconds)


def status_label(value: str | None) -> str:
    if not value:
        return ""
    try:
        return STATUS_LABELS[Status(value)]
    except ValueError:
        return value


def channel_label(value: str | None) -> str:
    if not value:
        return ""
    try:
        return CHANNEL_LABELS[Channel(value)]
    except ValueError:
        return value


def triage_reason(value: str | None) -> str:
    key, _, detail = (value or "").partition(":")
    label = TRIAGE_REASON_LABELS.get(key, key)
    return f"{label}：{detail}" if detail else label


def install_filters(app: web.Application) -> None:
    env = aiohttp_jinja2.get_env(app)
    env.filters.update(
        {
            "full_time": fmt_full,
            "duration": fmt_duration,
            "status_label": status_label,
            "channel_label": channel_label,
            "mask_phone": mask_phone,
            "agent_state": lambda v: AGENT_STATE_LABELS.get(v or "", v),
            "call_stage": lambda v: CALL_STAGE_LABELS.get(v or "", v),
            "transfer_result": lambda v: TRANSFER_RESULT_LABELS.get(v or "", v),
            "priority_reason": lambda v: PRIORITY_LABELS.get(v or "", v),
            "triage_reason": triage_reason,
            "role_label": lambda v: ROLE_LABELS.get(v or "", v),
            "assignment_status": lambda v: ASSIGNMENT_STATUS_LABELS.get(v or "", v),
        }
    )


# -- static files ------------------------------------------------------------------------------

_VERSIONS: dict[str, str] = {}


def static_url(name: str) -> str:
    """The URL of a file in ``hotline/web/static`` with a content hash (cache busting)."""
    version = _VERSIONS.get(name)
    if version is None:
        digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:10]
        version = _VERSIONS[name] = digest
    return f"/console/static/{name}?v={version}"


# -- rendering ---------------------------------------------------------------------------------

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def nav_for(user: SessionUser, active: str) -> list[dict[str, Any]]:
    return [
        {"href": href, "label": label, "active": key == active, "key": key}
        for roles, href, label, key in _NAV
        if user.role in roles
    ]


async def render(
    request: web.Request,
    user: SessionUser | None,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    active: str = "",
) -> web.Response:
    ctx = request.app[CONTEXT]
    names = Names(await ctx.reference.get())
    now = ctx.clock.now()
    full: dict[str, Any] = {
        "user": user,
        "csrf": session.csrf_token(request, user) if user is not None else "",
        "nav": nav_for(user, active) if user is not None else [],
        "names": names,
        "now": now,
        "when": lambda value: fmt_time(value, now),
        "due": lambda value: fmt_due(value, now),
        "static": static_url,
        "active": active,
        **context,
    }
    response = aiohttp_jinja2.render_template(template, request, full, status=status)
    response.headers.update(SECURITY_HEADERS)
    return response


async def error_page(
    request: web.Request, user: SessionUser | None, status: int, message: str
) -> web.Response:
    if is_fragment(request):
        return web.Response(status=status, text=message, content_type="text/plain")
    return await render(
        request, user, "console/error.html", {"status": status, "message": message}, status=status
    )


_STATUS_OF: list[tuple[type[DomainError], int]] = [
    (InvalidField, 422),
    (DomainNotFound, 404),
    (Forbidden, 403),
    (IllegalTransition, 409),
    (Conflict, 409),
]


def status_of(exc: DomainError) -> int:
    for cls, status in _STATUS_OF:
        if isinstance(exc, cls):
            return status
    return 400


def page(roles: Iterable[str]) -> Callable[[PageHandler], Handler]:
    """A console page for ``roles``: sign-in first (redirect), else 403; errors as pages."""
    allowed = frozenset(roles)

    def wrap(handler: PageHandler) -> Handler:
        @wraps(handler)
        async def run(request: web.Request) -> web.StreamResponse:
            user = await session.current(request)
            if user is None:
                if is_fragment(request):
                    return web.Response(status=401, text="请重新登录", content_type="text/plain")
                raise web.HTTPFound(login_url(request))
            if user.role not in allowed:
                return await error_page(
                    request, user, 403, "您的角色无权访问此页面。如需使用，请联系值班长或管理员。"
                )
            try:
                return await handler(request, user)
            except DomainError as exc:
                return await error_page(request, user, status_of(exc), exc.message)

        return run

    return wrap


def action(roles: Iterable[str]) -> Callable[[PageHandler], Handler]:
    """A console JSON action for ``roles``: the session, its CSRF header and the role are
    checked; errors are the API's ``{"error": {"code", "message"}}``."""
    allowed = frozenset(roles)

    def wrap(handler: PageHandler) -> Handler:
        @wraps(handler)
        async def run(request: web.Request) -> web.StreamResponse:
            try:
                user = await session.current(request)
                if user is None:
                    raise ApiError(401, "unauthorized", "登录已失效，请重新登录")
                if not session.header_ok(request, user):
                    raise ApiError(403, "csrf_failed", "缺少或无效的 CSRF 令牌，请刷新页面后重试")
                if user.role not in allowed:
                    raise ApiError(403, "forbidden", "您的角色无权执行此操作")
                return await handler(request, user)
            except ApiError as exc:
                return json_error(exc.status, exc.code, exc.message)
            except DomainError as exc:
                return json_error(status_of(exc), exc.code, exc.message)

        return run

    return wrap
