"""Who is calling: bearer keys for automation and partners, or a console session (cookie).

A console session is a credential for the JSON API too (CONTRACT.md), in either form: the
browser's cookie, or its token as a bearer key (from ``POST /api/v1/sessions``). Made with the
cookie, a request that changes state must carry the session's CSRF token in ``X-CSRF-Token``
(403 ``csrf_failed`` without); a bearer key needs none (a browser never adds it on its own)."""

from __future__ import annotations

import hmac
from collections.abc import Collection
from dataclasses import dataclass

from aiohttp import web

from hotline.domain.lifecycle import Actor
from hotline.domain.vocabulary import ActorKind
from hotline.services import console
from hotline.services.keys import resolve_key
from hotline.web.console import session as console_session
from hotline.web.errors import ApiError
from hotline.web.keys import CONTEXT


@dataclass(frozen=True)
class Principal:
    kind: ActorKind  # ADMIN, AGENT, SUPERVISOR, DEPARTMENT or PLATFORM
    id: str
    department: str | None = None
    #: the console user's id, for agents, supervisors and department users signed in
    user_id: int | None = None

    @property
    def actor(self) -> Actor:
        return Actor(self.kind, self.id, self.department)


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authenticate(request: web.Request) -> Principal | None:
    token = bearer_token(request)
    if token is None:
        return await _console_user(request)
    ctx = request.app[CONTEXT]
    admin_token = ctx.settings.secrets.admin_token
    if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
        return Principal(ActorKind.ADMIN, "admin-token")
    owner = await resolve_key(ctx, token)
    if owner is None:
        user = await console.resolve(ctx, token)
        if user is None:
            return None
        return Principal(ActorKind(user.role), user.username, user.department, user.user_id)
    if owner.kind == "department":
        return Principal(ActorKind.DEPARTMENT, f"key-{owner.key_id}", owner.department)
    return Principal(ActorKind.PLATFORM, owner.platform or f"key-{owner.key_id}")


async def _console_user(request: web.Request) -> Principal | None:
    user = await console_session.current(request)
    if user is None:
        return None
    if not console_session.header_ok(request, user):
        raise ApiError(403, "csrf_failed", "缺少或无效的 CSRF 令牌(X-CSRF-Token)，请刷新页面后重试")
    return Principal(ActorKind(user.role), user.username, user.department, user.user_id)


async def require(request: web.Request, kinds: Collection[ActorKind]) -> Principal:
    """The caller, if it is one of ``kinds``; else 401 (unknown) or 403 (not allowed)."""
    principal = await authenticate(request)
    if principal is None:
        if bearer_token(request) is None:
            raise ApiError(401, "unauthorized", "需要 Authorization: Bearer <key>")
        raise ApiError(401, "unauthorized", "凭证无效")
    if principal.kind not in kinds:
        raise ApiError(403, "forbidden", "无权执行此操作")
    return principal
