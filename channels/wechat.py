"""The WeChat official account: pushes in, passive replies and customer-service messages out.

``GET /wechat`` answers WeChat's server verification; ``POST /wechat`` takes pushes in plain
and safe (``encrypt_type=aes``) mode. Signatures, decryption and parsing are wechatpy's
(``check_signature``, ``WeChatCrypto``, ``parse_message``); the untrusted XML is first read by
defusedxml with DTDs forbidden, so an entity bomb or an external entity is a 400, never expanded.

WeChat waits 5 seconds and retries three times. Each push is claimed by its key (``MsgId``;
for events ``FromUserName`` + ``CreateTime``) before anything is done, so a retry gets the
first reply and nothing twice. A reply that takes longer than ``reply_within_seconds`` is not
waited for: WeChat gets a short acknowledgement, and the result follows as a customer-service
message through the outbox.
"""

from __future__ import annotations

import asyncio
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
import structlog
from aiohttp import web
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeElementTree
from sqlalchemy import select
from wechatpy import parse_message
from wechatpy.client import WeChatClient
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import (
    InvalidAppIdException,
    InvalidSignatureException,
    WeChatClientException,
)
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from channels.commands import Query, Rate, parse_command
from channels.config import WeChatConfig
from channels.status import open_tickets_text, status_text
from hotline.domain.intake import IntakeValue
from hotline.domain.vocabulary import OPEN_STATUSES, Channel, Status
from hotline.services import intake, ratings, webhooks
from hotline.services.context import Context
from hotline.services.outbox import InDoubt, Message, Outgoing, SendFailed, enqueue
from hotline.storage.tickets import Ticket
from hotline.storage.upsert import dialect_insert, dialect_of
from hotline.storage.wechat import WeChatUser
from hotline.web.keys import CONTEXT, METRICS

log = structlog.get_logger(__name__)

routes = web.RouteTableDef()

SOURCE = "wechat"
SUCCESS = "success"
#: errors of the customer-service API that no retry can cure: outside the 48-hour window,
#: invalid openid, follower gone, message refused
PERMANENT_ERRORS = {40003, 43004, 45015, 45047, 48001, 43019}

#: background tasks that outlive their request (slow replies); kept so they are not collected
_pending: set[asyncio.Task[Any]] = set()


class BadPush(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


# -- parsing ---------------------------------------------------------------------------------


def read_xml(body: bytes) -> dict[str, str]:
    """The push's fields, from XML read with DTDs and entities refused (defusedxml)."""
    try:
        root = SafeElementTree.fromstring(body, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise BadPush(400, f"XML refused: {type(exc).__name__}") from exc
    except SafeElementTree.ParseError as exc:
        raise BadPush(400, f"malformed XML: {exc}") from exc
    if root.tag != "xml":
        raise BadPush(400, "the root element must be <xml>")
    return {child.tag: (child.text or "") for child in root}


def cdata_safe(text: str) -> str:
    """Text that wechatpy will put in a CDATA section: ``]]>`` must not end it early."""
    return text.replace("]]>", "]]]]><![CDATA[>")


@dataclass(frozen=True)
class Push:
    """A verified, decrypted push."""

    xml: str
    fields: dict[str, str]
    message: Any  # a wechatpy message or event
    encrypted: bool

    @property
    def openid(self) -> str:
        return self.fields.get("FromUserName", "")

    @property
    def dedup(self) -> str:
        msg_id = self.fields.get("MsgId")
        if msg_id:
            return f"msg:{msg_id}"
        created, event = self.fields.get("CreateTime", ""), self.fields.get("Event", "")
        return f"event:{self.openid}:{created}:{event}"


def _crypto(ctx: Context) -> WeChatCrypto:
    s = ctx.settings.secrets
    if not (s.wechat_token and s.wechat_encoding_aes_key and s.wechat_app_id):
        raise BadPush(403, "safe mode is not configured (WECHAT_ENCODING_AES_KEY, WECHAT_APP_ID)")
    try:
        return WeChatCrypto(s.wechat_token, s.wechat_encoding_aes_key, s.wechat_app_id)
    except (AssertionError, ValueError, binascii.Error) as exc:
        raise BadPush(403, "WECHAT_ENCODING_AES_KEY is not a valid key") from exc


def verify_push(ctx: Context, query: Mapping[str, str], body: bytes) -> Push:
    token = ctx.settings.secrets.wechat_token
    if not token:
        raise BadPush(403, "WECHAT_TOKEN is not set")
    try:
        check_signature(
            token, query.get("signature", ""), query.get("timestamp", ""), query.get("nonce", "")
        )
    except InvalidSignatureException as exc:
        raise BadPush(403, "bad signature") from exc
    fields = read_xml(body)
    encrypted = query.get("encrypt_type", "raw").lower() == "aes"
    if encrypted:
        if "Encrypt" not in fields:
            raise BadPush(400, "Encrypt missing in safe mode")
        try:
            xml = _crypto(ctx).decrypt_message(
                {"Encrypt": fields["Encrypt"]},
                query.get("msg_signature", ""),
                query.get("timestamp", ""),
                query.get("nonce", ""),
            )
        except (InvalidSignatureException, InvalidAppIdException) as exc:
            raise BadPush(403, "bad msg_signature or app id") from exc
        except (ValueError, TypeError, IndexError, UnicodeDecodeError, binascii.Error) as exc:
            raise BadPush(400, "cannot decrypt Encrypt") from exc
        fields = read_xml(xml.encode("utf-8"))
    else:
        xml = body.decode("utf-8", errors="strict") if body else ""
    if not fields.get("MsgType") or not fields.get("FromUserName"):
        raise BadPush(400, "MsgType and FromUserName are required")
    return Push(xml=xml, fields=fields, message=parse_message(xml), encrypted=encrypted)


# -- handling --------------------------------------------------------------------------------


async def _follow_up_of(ctx: Context, openid: str, now: datetime) -> str | None:
    minutes = ctx.config.channels.wechat.follow_up_minutes
    if minutes <= 0:
        return None
    async with ctx.db.sessions() as session:
        row = (
            await session.execute(
                select(Ticket.number, Ticket.status)
                .select_from(WeChatUser)
                .join(Ticket, Ticket.id == WeChatUser.last_ticket_id)
                .where(
                    WeChatUser.openid == openid,
                    WeChatUser.last_contact_at >= now - timedelta(minutes=minutes),
                )
            )
        ).first()
    if row is None or Status(row.status) not in OPEN_STATUSES:
        return None
    return str(row.number)


async def _remember(
    ctx: Context,
    openid: str,
    now: datetime,
    *,
    ticket_id: int | None = None,
    subscribed: bool | None = None,
) -> None:
    values: dict[str, Any] = {"updated_at": now}
    if ticket_id is not None:
        values.update(last_ticket_id=ticket_id, last_contact_at=now)
    if subscribed is True:
        values.update(subscribed=True, subscribed_at=now)
    elif subscribed is False:
        values.update(subscribed=False, unsubscribed_at=now)
    async with ctx.db.sessions() as session, session.begin():
        stmt = dialect_insert(dialect_of(session), WeChatUser).values(
            {"openid": openid, "subscribed": subscribed is not False, **values}
        )
        await session.execute(
            stmt.on_conflict_do_update(index_elements=[WeChatUser.openid], set_=values)
        )


def _content(push: Push) -> tuple[str, dict[str, Any]]:
    """The text and the location a message carries."""
    f = push.fields
    kind = f.get("MsgType", "").lower()
    extra: dict[str, Any] = {}
    if kind == "text":
        return f.get("Content", ""), extra
    if kind == "voice":
        return f.get("Recognition", ""), extra
    if kind == "location":
        try:
            extra = {"latitude": float(f["Location_X"]), "longitude": float(f["Location_Y"])}
        except (KeyError, ValueError):
            extra = {}
        label = f.get("Label", "")
        return (f"[位置] {label}".strip(), extra)
    if kind == "link":
        return " ".join(x for x in (f.get("Title", ""), f.get("Description", "")) if x), extra
    return "", extra  # image, video, shortvideo: the media ids are in the payload


async def handle_push(ctx: Context, push: Push) -> str | None:
    """What to answer (None: nothing, i.e. ``success``). Takes in messages as contacts."""
    f = push.fields
    kind = f.get("MsgType", "").lower()
    cfg = ctx.config.channels.wechat
    now = ctx.clock.now()
    if kind == "event":
        event = f.get("Event", "").lower()
        if event == "subscribe":
            await _remember(ctx, push.openid, now, subscribed=True)
            return cfg.templates.welcome
        if event == "unsubscribe":
            await _remember(ctx, push.openid, now, subscribed=False)
            return None
        if event == "click":
            return cfg.menu.get(f.get("EventKey", ""))
        return None
    if kind not in ("text", "voice", "image", "location", "link", "video", "shortvideo"):
        log.info("wechat message of unsupported type", type=kind, fields=f)
        return cfg.templates.unsupported
    content, extra = _content(push)
    if kind == "text":
        command = parse_command(
            content,
            prefix=ctx.config.city.ticket_prefix,
            query_words=tuple(ctx.config.channels.sms.query_words),
            opt_out_words=(),
            opt_in_words=(),
        )
        if isinstance(command, Query):
            if command.number is None:
                return await open_tickets_text(ctx, openid=push.openid)
            return await status_text(ctx, command.number, openid=push.openid)
        if isinstance(command, Rate):
            ref = f"{push.openid}:{f.get('MsgId') or push.dedup}"
            rated = await ratings.rate_by_recipient(ctx, "wechat", push.openid, command.level, ref)
            if rated is not None:
                e = ctx.config.evaluation
                template = e.bad_thanks if rated.rating.bad else e.thanks
                level = ratings.level_name(rated.rating.level)
                return template.format(number=rated.number, level=level)
    value = IntakeValue(
        channel=Channel.WECHAT,
        channel_ref=f"{push.openid}:{f.get('MsgId') or push.dedup}",
        received_at=now,
        content=content,
        latitude=extra.get("latitude"),
        longitude=extra.get("longitude"),
        attach_to=await _follow_up_of(ctx, push.openid, now),
        payload={**f, "xml": push.xml},
    )
    result = await intake.take_in(ctx, value)
    await _remember(ctx, push.openid, now, ticket_id=result.ticket_id)
    texts = ctx.config.channels.texts
    if result.attached:
        return texts.attached_reply.format(number=result.number)
    return texts.accepted_reply.format(number=result.number)


def _reply_body(ctx: Context, push: Push, text: str | None, query: Mapping[str, str]) -> str:
    if not text:
        return SUCCESS
    xml = TextReply(message=push.message, content=cdata_safe(text)).render()
    if push.encrypted:
        return str(
            _crypto(ctx).encrypt_message(xml, query.get("nonce", ""), query.get("timestamp", ""))
        )
    return str(xml)


def _response(body: str) -> web.Response:
    if body == SUCCESS:
        return web.Response(text=SUCCESS, content_type="text/plain")
    return web.Response(text=body, content_type="application/xml", charset="utf-8")


async def _deliver_later(ctx: Context, task: asyncio.Task[str | None], push: Push) -> None:
    """A slow reply goes out as a customer-service message once it is ready."""
    try:
        text = await task
    except Exception:
        log.exception("slow wechat push failed after its acknowledgement", xml=push.xml)
        return
    if not text:
        return
    async with ctx.db.sessions() as session, session.begin():
        await enqueue(
            session,
            [
                Outgoing(
                    kind=SOURCE,
                    key=f"wechat:reply:{push.dedup}",
                    recipient=push.openid,
                    body=text,
                    purpose="wechat_reply",
                )
            ],
            ctx.clock.now(),
        )


async def _read_body(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    body = await request.content.read(limit + 1)
    if len(body) > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(body))
    return body


@routes.get("/wechat")
async def verify(request: web.Request) -> web.Response:
    token = request.app[CONTEXT].settings.secrets.wechat_token
    q = request.query
    if not token:
        raise web.HTTPForbidden(text="WECHAT_TOKEN is not set")
    try:
        check_signature(token, q.get("signature", ""), q.get("timestamp", ""), q.get("nonce", ""))
    except InvalidSignatureException as exc:
        raise web.HTTPForbidden(text="bad signature") from exc
    return web.Response(text=q.get("echostr", ""), content_type="text/plain")


@routes.post("/wechat")
async def push(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    cfg: WeChatConfig = ctx.config.channels.wechat
    body = await _read_body(request, cfg.max_body_bytes)
    try:
        incoming = verify_push(ctx, request.query, body)
    except BadPush as exc:
        log.warning("wechat push refused", status=exc.status, reason=exc.reason)
        raise _http_error(exc) from exc
    except UnicodeDecodeError as exc:
        raise web.HTTPBadRequest(text="body is not UTF-8") from exc
    key = webhooks.delivery_key(SOURCE, incoming.dedup)
    budget = cfg.reply_within_seconds
    if not await webhooks.claim(ctx, SOURCE, key):
        earlier = await webhooks.stored(ctx, key, wait=budget)
        return _response(earlier.body if earlier else SUCCESS)
    task = asyncio.ensure_future(handle_push(ctx, incoming))
    try:
        text = await asyncio.wait_for(asyncio.shield(task), timeout=budget)
    except TimeoutError:
        _pending.add(later := asyncio.ensure_future(_deliver_later(ctx, task, incoming)))
        later.add_done_callback(_pending.discard)
        text = cfg.templates.slow_ack or None
    except BaseException:
        await webhooks.release(ctx, key)
        raise
    else:
        if incoming.fields.get("MsgType", "").lower() != "event":
            request.app[METRICS].contacts.labels(Channel.WECHAT.value, "created").inc()
    reply = _reply_body(ctx, incoming, text, request.query)
    await webhooks.store(
        ctx,
        key,
        webhooks.StoredReply(200, "text/plain" if reply == SUCCESS else "application/xml", reply),
    )
    return _response(reply)


def _http_error(exc: BadPush) -> web.HTTPException:
    if exc.status == 403:
        return web.HTTPForbidden(text=exc.reason)
    return web.HTTPBadRequest(text=exc.reason)


# -- outbound: customer-service messages -----------------------------------------------------


class _Client(WeChatClient):  # type: ignore[misc]  # wechatpy is untyped
    """wechatpy's client, pointed at a configurable API base (WeChat's own by default)."""

    def __init__(self, app_id: str, secret: str, base_url: str, timeout: float) -> None:
        super().__init__(app_id, secret, timeout=timeout)
        self.API_BASE_URL = base_url

    def fetch_access_token(self) -> Any:
        return self._fetch_access_token(
            url=f"{self.API_BASE_URL}token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )


class WeChatCustomerSender:
    """Customer-service text messages (客服消息) with wechatpy's client.

    WeChat offers no way to ask whether a message arrived, so one whose try was interrupted
    is held for a person rather than risk sending it twice.
    """

    in_doubt: InDoubt = "hold"

    def __init__(self, app_id: str, secret: str, config: WeChatConfig) -> None:
        self.client = _Client(app_id, secret, str(config.api_base_url), config.timeout_seconds)

    async def send(self, message: Message) -> str | None:
        try:
            await asyncio.to_thread(self.client.message.send_text, message.recipient, message.body)
        except WeChatClientException as exc:
            code = exc.errcode
            raise SendFailed(
                f"微信接口错误 {code}: {exc.errmsg}", permanent=code in PERMANENT_ERRORS
            ) from exc
        except requests.ConnectionError as exc:
            raise SendFailed(f"无法连接微信接口: {exc}") from exc
        except requests.RequestException as exc:
            raise SendFailed(f"微信接口请求中断: {exc!r}", in_doubt=True) from exc
        return None

    async def lookup(self, message: Message) -> str | None:  # pragma: no cover - never "lookup"
        return None
