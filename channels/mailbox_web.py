"""HTTP of the mayor's mailbox: the form (``/mailbox``), the progress page (``/mailbox/query``)
and ``POST /api/v1/mailbox``. Validation and intake live in :mod:`channels.mailbox`."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp_jinja2
from aiohttp import BodyPartReader, web
from pydantic import Field

from channels.mailbox import (
    TYPES,
    Letter,
    Upload,
    check_letter,
    check_upload,
    find_by_query_code,
    submit,
)
from hotline.domain.errors import DomainError, InvalidField, NotFound, TooManyAttempts
from hotline.domain.vocabulary import Channel
from hotline.services import ratings
from hotline.web import csrf
from hotline.web.api.bodies import Body, parse_body
from hotline.web.api.public import lookup, public_json, rating_open
from hotline.web.errors import read_json_object
from hotline.web.jsonresp import json_response
from hotline.web.keys import CONTEXT, METRICS

routes = web.RouteTableDef()

#: text fields of the form are read up to this size each
FIELD_LIMIT = 64 * 1024
TEXT_FIELDS = (
    "title",
    "content",
    "type",
    "name",
    "phone",
    "address",
    "confidential",
    "submission",
    csrf.FIELD,
)


class FormTooLarge(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _page(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    context = {"csrf_token": csrf.form_token(request), "csrf_field": csrf.FIELD, **context}
    response = aiohttp_jinja2.render_template(template, request, context, status=status)
    csrf.remember(request, response)
    return response


def _form_context(request: web.Request, **extra: Any) -> dict[str, Any]:
    cfg = request.app[CONTEXT].config.channels.mailbox
    values = extra.pop("values", {})
    return {
        "types": TYPES,
        "values": values,
        "errors": extra.pop("errors", {}),
        "submission": values.get("submission") or uuid.uuid4().hex,
        "limits": {
            "title": cfg.title_max_chars,
            "content": cfg.content_max_chars,
            "files": cfg.max_attachments,
            "file_mb": max(1, cfg.max_attachment_bytes // (1024 * 1024)),
            "accept": ",".join(cfg.attachment_types),
        },
        **extra,
    }


@routes.get("/mailbox")
async def form(request: web.Request) -> web.Response:
    return _page(request, "mailbox/form.html", _form_context(request))


async def _read_form(request: web.Request) -> tuple[dict[str, str], list[tuple[str | None, bytes]]]:
    """Text fields and files of the posted form, with the configured limits enforced."""
    cfg = request.app[CONTEXT].config.channels.mailbox
    if request.content_type != "multipart/form-data":
        if request.content_type != "application/x-www-form-urlencoded":
            raise web.HTTPUnsupportedMediaType(text="请通过页面上的表单提交")
        posted = await request.post()
        return {k: v for k, v in posted.items() if isinstance(v, str) and k in TEXT_FIELDS}, []
    too_large = FormTooLarge(
        f"提交的内容过大，附件合计请不要超过{cfg.max_total_bytes // (1024 * 1024)}MB"
    )
    if request.content_length is not None and request.content_length > cfg.max_total_bytes:
        raise too_large
    fields: dict[str, str] = {}
    files: list[tuple[str | None, bytes]] = []
    total = 0
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise web.HTTPBadRequest(text="表单格式有误")
        limit = cfg.max_attachment_bytes + 1 if part.filename is not None else FIELD_LIMIT
        data = bytearray()
        while chunk := await part.read_chunk(64 * 1024):
            data.extend(chunk)
            total += len(chunk)
            if total > cfg.max_total_bytes:
                raise too_large
            if len(data) > limit:
                if part.filename is None:
                    raise FormTooLarge("填写的内容过长")
                name = part.filename or "附件"
                raise FormTooLarge(
                    f"附件“{name}”超过{cfg.max_attachment_bytes // (1024 * 1024)}MB，请压缩后再上传"
                )
        if part.filename is not None:
            if part.name == "attachments" and (data or part.filename):
                files.append((part.filename, bytes(data)))
        elif part.name in TEXT_FIELDS:
            fields[part.name or ""] = bytes(data[:FIELD_LIMIT]).decode("utf-8", errors="replace")
    return fields, [(name, data) for name, data in files if data or name]


@routes.post("/mailbox")
async def post_form(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    cfg = ctx.config.channels.mailbox
    try:
        fields, files = await _read_form(request)
    except FormTooLarge as exc:
        context = _form_context(request, errors={"form": exc.message})
        return _page(request, "mailbox/form.html", context, status=413)
    values = {k: v for k, v in fields.items() if k != csrf.FIELD}
    if not csrf.valid(request, fields.get(csrf.FIELD)):
        context = _form_context(
            request,
            values=values,
            errors={
                "form": "页面已过期或来源无法确认，请核对内容后重新提交"
                "（已为您保留填写的内容，附件需重新选择）"
            },
        )
        return _page(request, "mailbox/form.html", context, status=403)
    letter, errors = check_letter(cfg, fields)
    uploads: list[Upload] = []
    files = [(name, data) for name, data in files if data]
    if len(files) > cfg.max_attachments:
        errors["attachments"] = f"附件最多{cfg.max_attachments}个"
    else:
        for name, data in files:
            upload, problem = check_upload(cfg, name, data)
            if problem:
                errors["attachments"] = problem
                break
            if upload is not None:
                uploads.append(upload)
    submission = fields.get("submission", "")
    if not _is_hex_id(submission):
        errors.setdefault("form", "表单已失效，请重新提交")
    if errors or letter is None:
        context = _form_context(request, values=values, errors=errors)
        return _page(request, "mailbox/form.html", context, status=422)
    letter = Letter(**{**letter.__dict__, "attachments": tuple(uploads)})
    done = await submit(ctx, letter, f"form:{submission}")
    request.app[METRICS].contacts.labels(
        Channel.MAILBOX.value, "created" if done.created else "repeat"
    ).inc()
    return _page(
        request,
        "mailbox/done.html",
        {"number": done.number, "query_code": done.query_code, "repeat": not done.created},
    )


def _is_hex_id(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)


def _too_many(request: web.Request, context: dict[str, Any], exc: TooManyAttempts) -> web.Response:
    """The query page saying when to try again (429 with Retry-After)."""
    context["error"] = exc.message
    page = _page(request, "mailbox/query.html", context, status=429)
    page.headers["Retry-After"] = str(exc.retry_after)
    return page


@routes.get("/mailbox/query")
async def query_page(request: web.Request) -> web.Response:
    number = request.query.get("number", "").strip().upper()
    code = request.query.get("code", "").strip()
    context: dict[str, Any] = {"number": number, "code": code, "ticket": None, "error": None}
    if number or code:
        try:
            view = await lookup(request, number, code)
        except NotFound:
            context["error"] = "未查到该工单，请核对工单编号和查询码"
        except TooManyAttempts as exc:
            return _too_many(request, context, exc)
        else:
            context["ticket"] = public_json(view)
            context["rating_open"] = await rating_open(request.app[CONTEXT], view.ticket.id)
    return _page(request, "mailbox/query.html", context)


@routes.post("/mailbox/rate")
async def rate_page(request: web.Request) -> web.Response:
    """The query page's rating form (好差评), with the query code and a CSRF token."""
    form = await request.post()
    number = str(form.get("number", "")).strip().upper()
    code = str(form.get("code", "")).strip()
    context: dict[str, Any] = {"number": number, "code": code, "ticket": None, "error": None}
    if not csrf.valid(request, form.get(csrf.FIELD)):
        context["error"] = "页面已过期，请重新查询后评价"
        return _page(request, "mailbox/query.html", context, status=403)
    ctx = request.app[CONTEXT]
    try:
        view = await lookup(request, number, code)
    except NotFound:
        context["error"] = "未查到该工单，请核对工单编号和查询码"
        return _page(request, "mailbox/query.html", context, status=404)
    except TooManyAttempts as exc:
        return _too_many(request, context, exc)
    level = str(form.get("level", ""))
    if level not in {"1", "2", "3", "4", "5"}:
        context["error"] = "请选择一项评价"
    else:
        try:
            await ratings.rate(ctx, view.ticket.number, int(level), channel="mailbox")
        except DomainError as exc:
            context["error"] = exc.message
        else:
            context["rated"] = ratings.level_name(int(level))
    view = await find_by_query_code(ctx, number, code)
    context["ticket"] = public_json(view)
    context["rating_open"] = await rating_open(ctx, view.ticket.id)
    return _page(request, "mailbox/query.html", context)


class MailboxLetter(Body):
    title: str = Field(min_length=1, max_length=200)
    content: str = Field(min_length=1, max_length=20_000)
    type: str | None = None
    name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=64)
    address: str | None = Field(default=None, max_length=500)
    confidential: bool = False


@routes.post("/api/v1/mailbox")
async def api_letter(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    body = parse_body(MailboxLetter, await read_json_object(request))
    letter, errors = check_letter(ctx.config.channels.mailbox, body.model_dump())
    if letter is None:
        field, message = next(iter(errors.items()))
        raise InvalidField(field, message)
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 1 <= len(key) <= 200:
        raise InvalidField("Idempotency-Key", "长度须在 1 到 200 个字符之间")
    done = await submit(ctx, letter, f"api:{key}" if key else f"api:auto-{uuid.uuid4().hex}")
    request.app[METRICS].contacts.labels(
        Channel.MAILBOX.value, "created" if done.created else "repeat"
    ).inc()
    return json_response(
        {"number": done.number, "query_code": done.query_code}, status=201 if done.created else 200
    )
