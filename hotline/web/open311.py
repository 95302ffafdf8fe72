"""Open311 GeoReport v2 at ``/open311/v2/`` (categories are services, tickets are requests).

Every endpoint answers in the format its extension names (``.json`` or ``.xml``), errors
included: a list of ``{code, description}`` with the HTTP status (docs/open311.md). Handlers
parse, call one function and render; the mapping lives in ``open311_services`` (categories),
``open311_requests`` (tickets, read side) and ``open311_intake`` (the POST form).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from functools import wraps

import structlog
from aiohttp import web

from hotline.domain.errors import Conflict, DomainError, Forbidden, InvalidField, NotFound
from hotline.domain.lifecycle import Actor
from hotline.domain.vocabulary import ActorKind, Channel
from hotline.services import intake
from hotline.services.keys import resolve_key
from hotline.web import open311_requests as requests
from hotline.web import open311_services as services
from hotline.web.keys import CONTEXT, MAX_BODY, METRICS
from hotline.web.open311_format import Format, Open311Error, render, render_error
from hotline.web.open311_intake import is_token, parse_submission

log = structlog.get_logger(__name__)

routes = web.RouteTableDef()

BASE = "/open311/v2"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
#: when this API's documents last changed shape (discovery's ``changeset``); bump it with them
CHANGESET = "2026-11-26T00:00:00+08:00"

_FMT = "{fmt:[A-Za-z0-9]+}"

Handler = Callable[[web.Request, Format], Awaitable[web.Response]]

_DOMAIN_STATUS: list[tuple[type[DomainError], int]] = [
    (InvalidField, 400),
    (NotFound, 404),
    (Forbidden, 403),
    (Conflict, 409),
]


def _format_of(request: web.Request) -> Format:
    fmt = Format.of(request.match_info.get("fmt", ""))
    if fmt is None:
        raise Open311Error(400, "格式须为 .xml 或 .json")
    return fmt


def _guess_format(request: web.Request) -> Format:
    """For an error before the format is known: XML when the path asks for it, else JSON."""
    return Format.XML if request.path.lower().endswith(".xml") else Format.JSON


def open311(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Resolve the format, and turn every failure into Open311's error list in that format
    (the app's error middleware would answer in the /api/ JSON shape instead)."""

    @wraps(handler)
    async def wrapper(request: web.Request) -> web.Response:
        fmt = _guess_format(request)
        try:
            fmt = _format_of(request)
            return await handler(request, fmt)
        except Open311Error as exc:
            return render_error(fmt, exc.status, exc.description)
        except DomainError as exc:
            status = next((s for cls, s in _DOMAIN_STATUS if isinstance(exc, cls)), 400)
            return render_error(fmt, status, exc.message)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            if exc.status == 413:
                return render_error(fmt, 413, f"请求体超过上限 {request.app[MAX_BODY]} 字节")
            return render_error(fmt, exc.status, exc.reason)
        except Exception:
            log.exception("open311 failed", path=request.path, method=request.method)
            return render_error(fmt, 500, "服务器内部错误，请稍后重试")

    return wrapper


# -- discovery and services ----------------------------------------------------------------------


def _base_url(request: web.Request) -> str:
    public = request.app[CONTEXT].settings.secrets.public_url
    origin = public.rstrip("/") if public else str(request.url.origin())
    return origin + BASE


@routes.get(f"{BASE}/discovery.{_FMT}")
@open311
async def discovery(request: web.Request, fmt: Format) -> web.Response:
    ctx = request.app[CONTEXT]
    centre = requests.centre_name(ctx)
    document = {
        "changeset": CHANGESET,
        "contact": f"{centre}：拨打 12345",
        "key_service": f"api_key 由{centre}中心为接入平台签发（hotline keys add --platform 名称）",
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": _base_url(request),
                "changeset": CHANGESET,
                "type": "production",
                "formats": [Format.XML.media_type, Format.JSON.media_type],
            }
        ],
    }
    return render(fmt, "discovery", document)


@routes.get(f"{BASE}/services.{_FMT}")
@open311
async def service_list(request: web.Request, fmt: Format) -> web.Response:
    ref = await request.app[CONTEXT].reference.get()
    return render(fmt, "services", services.services(ref))


@routes.get(f"{BASE}/services/{{code}}.{_FMT}")
@open311
async def service_definition(request: web.Request, fmt: Format) -> web.Response:
    ref = await request.app[CONTEXT].reference.get()
    code = request.match_info["code"]
    if code not in ref.categories:
        raise Open311Error(404, f"service_code {code[:64]} 不存在")
    return render(fmt, "service_definition", services.definition(ref, code))


# -- requests ------------------------------------------------------------------------------------


@routes.get(f"{BASE}/requests.{_FMT}")
@open311
async def request_list(request: web.Request, fmt: Format) -> web.Response:
    ctx = request.app[CONTEXT]
    query = requests.parse_query(request.query, ctx.clock.now())
    return render(fmt, "service_requests", await requests.find_requests(ctx, query))


@routes.get(f"{BASE}/requests/{{id}}.{_FMT}")
@open311
async def request_one(request: web.Request, fmt: Format) -> web.Response:
    number = request.match_info["id"]
    found = await requests.find_request(request.app[CONTEXT], number)
    if found is None:
        raise Open311Error(404, f"service_request_id {number[:64]} 不存在")
    return render(fmt, "service_requests", [found])


async def _platform(request: web.Request, key: str | None) -> str:
    """The platform whose api_key this is; 403 for anything else (a department's key too)."""
    owner = await resolve_key(request.app[CONTEXT], key) if key else None
    if owner is None or owner.kind != "platform":
        raise Open311Error(403, "api_key 无效或缺失")
    return owner.platform or f"key-{owner.key_id}"


async def _form(request: web.Request) -> dict[str, str]:
    """The form's text fields (the first of a repeated name); a file part is a 400."""
    data = await request.post()
    form: dict[str, str] = {}
    for name, value in data.items():
        if not isinstance(value, str):
            raise Open311Error(400, f"{name}: 不接受上传文件，请以 media_url 提供图片地址")
        form.setdefault(name, value)
    return form


@routes.post(f"{BASE}/requests.{_FMT}")
@open311
async def request_create(request: web.Request, fmt: Format) -> web.Response:
    ctx = request.app[CONTEXT]
    form = await _form(request)
    key = form.get("api_key") or request.query.get("api_key") or ""
    platform = await _platform(request, key.strip() or None)
    submission = parse_submission(
        form,
        platform=platform,
        ref=await ctx.reference.get(),
        now=ctx.clock.now(),
        idempotency_key=request.headers.get("Idempotency-Key") or None,
    )
    result = await intake.take_in(ctx, submission.value, Actor(ActorKind.PLATFORM, platform))
    request.app[METRICS].contacts.labels(
        Channel.PLATFORM.value, "created" if result.created else "repeat"
    ).inc()
    days = ctx.config.time_limits.handling_working_days
    answer = {
        "service_request_id": result.number,
        "token": submission.token,
        "service_notice": (
            f"12345热线已受理，工单号 {result.number}。"
            f"承办单位一般应在{days}个工作日内答复（《{ctx.config.city.name}政务服务条例》）。"
        ),
        "account_id": submission.account_id,
    }
    return render(fmt, "service_requests", [answer], status=201 if result.created else 200)


@routes.get(f"{BASE}/tokens/{{token}}.{_FMT}")
@open311
async def token_lookup(request: web.Request, fmt: Format) -> web.Response:
    """Our POST answers with the request id at once; the token resolves all the same."""
    token = request.match_info["token"]
    ctx = request.app[CONTEXT]
    number = await requests.number_for_token(ctx, token) if is_token(token) else None
    if number is None:
        raise Open311Error(404, f"token {token[:64]} 不存在")
    return render(fmt, "service_requests", [{"token": token, "service_request_id": number}])


# -- everything else under /open311/v2/ ---------------------------------------------------------

#: (path pattern, methods) of the endpoints above, to tell a wrong method from a wrong path
_KNOWN = [
    (re.compile(r"discovery\.\w+"), ("GET", "HEAD")),
    (re.compile(r"services\.\w+"), ("GET", "HEAD")),
    (re.compile(r"services/[^/]+\.\w+"), ("GET", "HEAD")),
    (re.compile(r"requests\.\w+"), ("GET", "HEAD", "POST")),
    (re.compile(r"requests/[^/]+\.\w+"), ("GET", "HEAD")),
    (re.compile(r"tokens/[^/]+\.\w+"), ("GET", "HEAD")),
]


@routes.route("*", BASE + "/{tail:.*}")
async def elsewhere(request: web.Request) -> web.Response:
    """Registered last: an unknown path (404) or a wrong method (405), in Open311's format."""
    fmt = _guess_format(request)
    tail = request.match_info["tail"]
    for pattern, methods in _KNOWN:
        if pattern.fullmatch(tail):
            response = render_error(
                fmt, 405, f"不支持 {request.method}，可用: {', '.join(methods)}"
            )
            response.headers["Allow"] = ", ".join(methods)
            return response
    return render_error(fmt, 404, f"没有这个接口；端点列表见 {BASE}/discovery.json")
