"""SMS through Twilio: inbound texts become contacts, outbound notifications leave the outbox.

``POST /twilio/sms`` (signed, handled once per delivery by ``hotline.web.carrier``) answers
with TwiML at once: the ticket number for a new matter (GB/T 33358 wants text channels
acknowledged within 3 minutes), the status for a query, a confirmation for 退订/订阅. A text
from the same number within ``channels.sms.follow_up_minutes`` of the last one joins that
ticket while it is open. ``POST /twilio/sms/status`` records delivery reports, which Twilio
repeats and may deliver out of order: a report never moves a message's status backwards.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from sqlalchemy import func, select
from twilio.base.exceptions import TwilioRestException
from twilio.twiml.messaging_response import MessagingResponse

from channels.commands import Command, OptIn, OptOut, Rate, parse_command
from channels.status import open_tickets_text, status_text
from hotline.adapters.twilio import TwilioRest
from hotline.domain.intake import IntakeResult, IntakeValue
from hotline.domain.phones import normalise_phone
from hotline.domain.vocabulary import Channel
from hotline.services import intake, ratings, webhooks
from hotline.services.context import Context
from hotline.services.outbox import InDoubt, Message, SendFailed, record_delivery
from hotline.storage.citizens import Citizen, Contact
from hotline.storage.upsert import dialect_insert, dialect_of
from hotline.web.carrier import twilio_webhook, twiml
from hotline.web.keys import CONTEXT, METRICS
from hotline.web.once import respond_once

log = structlog.get_logger(__name__)

routes = web.RouteTableDef()

#: Twilio's message statuses in the order they happen; terminal ones share the top rank
DELIVERY_RANK: dict[str, int] = {
    "accepted": 1,
    "scheduled": 1,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "canceled": 4,
    "read": 5,
}

#: Twilio errors that no retry can cure (invalid or unreachable number, opted out at carrier)
PERMANENT_ERRORS = {21211, 21214, 21408, 21421, 21610, 21612, 21614, 21617, 30003, 30005, 30006}


# -- inbound ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmsOutcome:
    text: str
    #: created | attached | repeat | query | opt_out | opt_in
    kind: str
    number: str | None = None


_locks: weakref.WeakKeyDictionary[Context, dict[str, asyncio.Lock]] = weakref.WeakKeyDictionary()


def _lock(ctx: Context, phone: str) -> asyncio.Lock:
    """One text at a time per phone number, so that two texts sent together join one ticket."""
    locks = _locks.setdefault(ctx, {})
    lock = locks.get(phone)
    if lock is None:
        if len(locks) > 10_000:
            for key in [k for k, v in locks.items() if not v.locked()]:
                del locks[key]
        lock = locks[phone] = asyncio.Lock()
    return lock


def parse_sms(ctx: Context, form: Mapping[str, str]) -> tuple[str, str | None, Command | None]:
    """The message's id, the sender's E.164 number (None if it does not parse), and the
    command it carries (None: a matter for the intake)."""
    cfg = ctx.config.channels
    sid = form.get("MessageSid") or form.get("SmsSid")
    if not sid:
        raise web.HTTPBadRequest(text="MessageSid missing")
    raw_from = form.get("From", "")
    phone = normalise_phone(raw_from, ctx.config.city.phone_region).e164 if raw_from else None
    command = parse_command(
        form.get("Body", ""),
        prefix=ctx.config.city.ticket_prefix,
        query_words=tuple(cfg.sms.query_words),
        opt_out_words=tuple(cfg.sms.opt_out_words),
        opt_in_words=tuple(cfg.sms.opt_in_words),
    )
    if phone is None:
        command = None  # nobody to answer for: keep what was sent as a contact
    return sid, phone, command


async def rate_reply(ctx: Context, phone: str, level: int, sid: str) -> str | None:
    """The answer to a rating digit, or None when no reply awaits a rating from this phone.
    A carrier's retry of the same message gets the same answer and counts once."""
    rated = await ratings.rate_by_recipient(ctx, "sms", phone, level, sid)
    if rated is None:
        return None
    cfg = ctx.config.evaluation
    template = cfg.bad_thanks if rated.rating.bad else cfg.thanks
    return template.format(number=rated.number, level=ratings.level_name(rated.rating.level))


async def run_command(ctx: Context, phone: str, command: Command) -> SmsOutcome:
    """退订 / 订阅 / 查询: answered at once, nothing taken in."""
    templates = ctx.config.channels.sms.templates
    if isinstance(command, OptOut):
        await set_opt_out(ctx, phone, opted_out=True)
        return SmsOutcome(templates.opted_out, "opt_out")
    if isinstance(command, OptIn):
        await set_opt_out(ctx, phone, opted_out=False)
        return SmsOutcome(templates.opted_in, "opt_in")
    if isinstance(command, Rate):  # pragma: no cover - inbound() answers ratings itself
        raise TypeError("a rating is not a command to run")
    if command.number is None:
        return SmsOutcome(await open_tickets_text(ctx, phone=phone), "query")
    return SmsOutcome(await status_text(ctx, command.number, phone=phone), "query", command.number)


async def take_text(
    ctx: Context, form: Mapping[str, str], sid: str, phone: str | None
) -> SmsOutcome:
    """A new matter, or a follow-up to the open ticket of the same number.

    Idempotent on the MessageSid (the intake's key): Twilio's retry gets the same answer and
    no second contact. The follow-up lookup is the intake's (``follow_up_since``): it runs in
    the transaction that writes the contacts that arrived together, one query for all of them.
    """
    raw_from = form.get("From", "")
    minutes = ctx.config.channels.sms.follow_up_minutes
    async with _lock(ctx, phone or raw_from or sid):
        now = ctx.clock.now()
        value = IntakeValue(
            channel=Channel.SMS,
            channel_ref=sid,
            received_at=now,
            content=form.get("Body", ""),
            phone=raw_from or None,
            follow_up_since=(
                now - timedelta(minutes=minutes) if phone is not None and minutes > 0 else None
            ),
            payload=dict(form),
        )
        result = await intake.take_in(ctx, value)
    return await _answer(ctx, result)


async def _answer(ctx: Context, result: IntakeResult) -> SmsOutcome:
    texts = ctx.config.channels.texts
    attached = result.attached
    if not result.created:  # a retry: answer as the first time
        attached = await _joined_later(ctx, result)
    if attached:
        kind = "attached" if result.created else "repeat"
        return SmsOutcome(texts.attached_reply.format(number=result.number), kind, result.number)
    kind = "created" if result.created else "repeat"
    return SmsOutcome(texts.accepted_reply.format(number=result.number), kind, result.number)


async def _joined_later(ctx: Context, result: IntakeResult) -> bool:
    """Whether this contact joined its ticket as a follow-up (it is not the ticket's first)."""
    async with ctx.db.reads() as session:
        first = await session.scalar(
            select(func.min(Contact.id)).where(Contact.ticket_id == result.ticket_id)
        )
    return first is not None and first != result.contact_id


async def set_opt_out(ctx: Context, phone: str, *, opted_out: bool) -> None:
    """退订 / 订阅 for a phone number, remembered even for a number never seen before."""
    now = ctx.clock.now()
    async with ctx.db.sessions() as session, session.begin():
        stmt = dialect_insert(dialect_of(session), Citizen).values(
            phone=phone,
            phone_raw=phone,
            real_name=False,
            wants_confidential=False,
            needs_assistance=False,
            created_at=now,
            updated_at=now,
            sms_opt_out_at=now if opted_out else None,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[Citizen.phone],
            set_={"sms_opt_out_at": now if opted_out else None, "updated_at": now},
        )
        await session.execute(stmt)
    log.info("sms opt-out" if opted_out else "sms opt-in", phone=phone)


@routes.post("/twilio/sms")
@twilio_webhook("sms", stored=False)  # matters are idempotent by MessageSid; commands below
async def inbound(request: web.Request, form: dict[str, str]) -> web.Response:
    ctx = request.app[CONTEXT]
    sid, phone, command = parse_sms(ctx, form)
    if isinstance(command, Rate) and phone is not None:
        rated = await rate_reply(ctx, phone, command.level, sid)
        if rated is not None:
            return _twiml_text(ctx, rated)
        command = None  # nothing waits for a rating from this number: a matter like any other
    if command is not None and phone is not None:
        return await _command_once(request, sid, phone, command)
    outcome = await take_text(ctx, form, sid, phone)
    request.app[METRICS].contact(Channel.SMS.value, outcome.kind).inc()
    return _twiml_text(ctx, outcome.text)


def _twiml_text(ctx: Context, text: str) -> web.Response:
    reply = MessagingResponse()
    reply.message(ctx.config.channels.sms.signature + text)
    return twiml(reply)


async def _command_once(
    request: web.Request, sid: str, phone: str, command: Command
) -> web.Response:
    """A command is done once per delivery; a retry gets the first answer (stored)."""
    ctx = request.app[CONTEXT]

    async def run() -> web.Response:
        return _twiml_text(ctx, (await run_command(ctx, phone, command)).text)

    return await respond_once(request, "sms", webhooks.delivery_key("sms", sid), run)


@routes.post("/twilio/sms/status")
@twilio_webhook("sms_status")
async def delivery_report(request: web.Request, form: dict[str, str]) -> web.Response:
    ctx = request.app[CONTEXT]
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    outbox_id: int | None = None
    if request.query.get("outbox", "").isdigit():
        outbox_id = int(request.query["outbox"])
    rank = DELIVERY_RANK.get(status)
    if rank is None or not (sid or outbox_id):
        log.warning("sms status report ignored", sid=sid, status=status)
    else:
        await record_delivery(
            ctx,
            message_id=outbox_id,
            provider_ref=sid,
            status=status,
            rank=rank,
            error_code=form.get("ErrorCode") or None,
        )
    return twiml(MessagingResponse())  # Twilio ignores it; an empty TwiML document


# -- outbound --------------------------------------------------------------------------------


def _permanent(exc: TwilioRestException) -> bool:
    if exc.code in PERMANENT_ERRORS:
        return True
    return exc.status in (400, 404, 422) and exc.code is not None


class TwilioSmsSender:
    """Sends outbox SMS with Twilio's REST client (``messages.create_async``).

    A message in doubt (a try interrupted after it started) is looked up at Twilio — same
    recipient, same text, sent since that try began — before it is sent again.
    """

    in_doubt: InDoubt = "lookup"

    def __init__(self, rest: TwilioRest, status_callback: str | None) -> None:
        if not rest.phone_number:
            raise ValueError("twilio.phone_number is needed to send SMS")
        self.rest = rest
        self.sender = rest.phone_number
        #: the absolute URL of /twilio/sms/status (HOTLINE_PUBLIC_URL), or None
        self.status_callback = status_callback

    async def send(self, message: Message) -> str | None:
        kwargs: dict[str, Any] = {
            "to": message.recipient,
            "from_": self.sender,
            "body": message.body,
        }
        if self.status_callback:
            kwargs["status_callback"] = f"{self.status_callback}?outbox={message.id}"
        try:
            sent = await self.rest.client.messages.create_async(**kwargs)
        except TwilioRestException as exc:
            raise SendFailed(
                f"Twilio {exc.status} 错误 {exc.code}: {exc.msg}", permanent=_permanent(exc)
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            raise SendFailed(f"无法连接 Twilio: {exc}") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SendFailed(f"Twilio 请求中断: {exc!r}", in_doubt=True) from exc
        return str(sent.sid)

    async def lookup(self, message: Message) -> str | None:
        started = message.started_at
        if started is None:
            return None
        try:
            found = await self.rest.client.messages.list_async(
                to=message.recipient,
                from_=self.sender,
                date_sent_after=started - timedelta(days=1),
                limit=100,
            )
        except TwilioRestException as exc:
            raise SendFailed(f"Twilio 查询失败 {exc.status} {exc.code}: {exc.msg}") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SendFailed(f"Twilio 查询中断: {exc!r}") from exc
        slack = timedelta(minutes=5)
        for item in found:
            created = item.date_created
            if item.body == message.body and (created is None or created >= started - slack):
                return str(item.sid)
        return None


def status_callback_url(public_url: str | None) -> str | None:
    if not public_url:
        return None
    return public_url.rstrip("/") + "/twilio/sms/status"
