"""The mayor's mailbox (市长信箱): a public form and ``POST /api/v1/mailbox``, one intake value.

A letter gets a ticket number and a query code. The code is derived from the submission's id
with a key only the server holds (so a retried submission shows the same code again), shown to
the writer, and stored only as a hash; with it the writer follows progress at
``/api/v1/public/tickets/{number}?code=`` (or the ``/mailbox/query`` page), which shows no
personal data. Attachments are checked by their first bytes against the allowed types and
kept in the database in the transaction that creates the ticket.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from channels.config import MailboxConfig
from channels.files import TYPE_LABELS, safe_filename, sniff
from channels.notify import query_code_hash
from hotline.domain.errors import NotFound, TooManyAttempts
from hotline.domain.intake import IntakeValue
from hotline.domain.numbers import is_ticket_number
from hotline.domain.phones import normalise_phone
from hotline.domain.vocabulary import Channel, TicketType
from hotline.services import intake, queries
from hotline.services.context import Context
from hotline.services.secrets import derive_key
from hotline.storage.lookups import LookupFailure
from hotline.storage.tickets import Ticket

CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 8
_CODE_RE = re.compile(rf"^[{CODE_ALPHABET}]{{{CODE_LENGTH}}}$")

TYPES = [t.value for t in TicketType]


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Letter:
    title: str
    content: str
    type: TicketType | None = None
    name: str | None = None
    phone: str | None = None
    address: str | None = None
    confidential: bool = False
    attachments: tuple[Upload, ...] = field(default=())


@dataclass(frozen=True)
class Submitted:
    number: str
    query_code: str
    created: bool


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def check_letter(
    cfg: MailboxConfig, fields: Mapping[str, object]
) -> tuple[Letter | None, dict[str, str]]:
    """Validate what was written; friendly messages by field (all of them, for the form)."""
    errors: dict[str, str] = {}
    title = _text(fields.get("title"))
    content = _text(fields.get("content"))
    name = _text(fields.get("name")) or None
    phone = _text(fields.get("phone")) or None
    address = _text(fields.get("address")) or None
    kind = _text(fields.get("type")) or None
    if not title:
        errors["title"] = "请填写标题"
    elif len(title) > cfg.title_max_chars:
        errors["title"] = f"标题请不要超过{cfg.title_max_chars}个字"
    if not content:
        errors["content"] = "请填写您要反映的内容"
    elif len(content) < cfg.content_min_chars:
        errors["content"] = f"内容请至少写{cfg.content_min_chars}个字，写明时间、地点和具体情况"
    elif len(content) > cfg.content_max_chars:
        errors["content"] = f"内容请不要超过{cfg.content_max_chars}个字（现有{len(content)}个字）"
    if name is not None and len(name) > 50:
        errors["name"] = "姓名请不要超过50个字"
    if phone is not None and not normalise_phone(phone, "CN").parsed:
        errors["phone"] = "手机号码格式不正确，请填写11位手机号码或带区号的固定电话"
    if address is not None and len(address) > 200:
        errors["address"] = "地址请不要超过200个字"
    ticket_type: TicketType | None = None
    if kind is not None:
        try:
            ticket_type = TicketType.parse(kind)
        except ValueError:
            errors["type"] = f"请选择诉求类型：{'、'.join(TYPES)}"
    confidential = fields.get("confidential")
    if isinstance(confidential, str):
        confidential = confidential.lower() in ("1", "on", "true", "yes")
    if errors:
        return None, errors
    letter = Letter(
        title=title,
        content=content,
        type=ticket_type,
        name=name,
        phone=phone,
        address=address,
        confidential=bool(confidential),
    )
    return letter, {}


def check_upload(
    cfg: MailboxConfig, filename: str | None, data: bytes
) -> tuple[Upload | None, str | None]:
    """An attachment, or why it is refused."""
    name = safe_filename(filename)
    if len(data) > cfg.max_attachment_bytes:
        return None, f"附件“{name}”超过{cfg.max_attachment_bytes // (1024 * 1024)}MB"
    ctype = sniff(data[:16])
    if ctype is None or ctype not in cfg.attachment_types:
        allowed = "、".join(TYPE_LABELS.get(t, t) for t in cfg.attachment_types)
        return None, f"附件“{name}”的格式不支持，请上传{allowed}"
    return Upload(name, ctype, data), None


def make_query_code(ctx: Context, ref: str) -> str:
    digest = hmac.new(derive_key(ctx, "mailbox-query-code"), ref.encode(), hashlib.sha256).digest()
    return "".join(CODE_ALPHABET[b % len(CODE_ALPHABET)] for b in digest[:CODE_LENGTH])


async def submit(ctx: Context, letter: Letter, ref: str) -> Submitted:
    """Take the letter in (idempotent on ``ref``, the submission's id)."""
    code = make_query_code(ctx, ref)
    value = IntakeValue(
        channel=Channel.MAILBOX,
        channel_ref=ref,
        received_at=ctx.clock.now(),
        content=letter.content,
        title=letter.title,
        type=letter.type,
        address=letter.address,
        phone=letter.phone,
        name=letter.name,
        real_name=letter.name is not None,
        confidential=letter.confidential,
        payload={
            "title": letter.title,
            "type": letter.type.value if letter.type else None,
            "name": letter.name,
            "phone": letter.phone,
            "address": letter.address,
            "confidential": letter.confidential,
            "attachments": [
                {"filename": u.filename, "content_type": u.content_type, "size": len(u.data)}
                for u in letter.attachments
            ],
        },
        hook_data={
            "query_code": code,
            "attachments": [
                {"filename": u.filename, "content_type": u.content_type, "data": u.data}
                for u in letter.attachments
            ],
        },
    )
    result = await intake.take_in(ctx, value)
    return Submitted(result.number, code, result.created)


async def _lookup_wait(ctx: Context, client: str, now: datetime) -> int | None:
    """Seconds until ``client`` may look up again (``query_max_failures`` failures within the
    window lock it until the oldest of them leaves the window), or None. The failures are in
    the database, so every instance counts the same ones."""
    cfg = ctx.config.channels.mailbox
    window = timedelta(minutes=cfg.query_window_minutes)
    async with ctx.db.reads() as session:
        times = list(
            await session.scalars(
                select(LookupFailure.at)
                .where(LookupFailure.client == client, LookupFailure.at > now - window)
                .order_by(LookupFailure.at.desc())
                .limit(cfg.query_max_failures)
            )
        )
    if len(times) < cfg.query_max_failures:
        return None
    return max(1, math.ceil((times[-1] + window - now).total_seconds()))


async def _lookup_failed(ctx: Context, client: str, now: datetime) -> None:
    """Count a failure; forget, on the way, what has left the window (by the ``at`` index)."""
    window = timedelta(minutes=ctx.config.channels.mailbox.query_window_minutes)
    async with ctx.db.sessions() as session, session.begin():
        await session.execute(delete(LookupFailure).where(LookupFailure.at <= now - window))
        session.add(LookupFailure(client=client, at=now))


async def find_by_query_code(
    ctx: Context, number: str, code: str, *, client: str | None = None
) -> queries.TicketView:
    """The ticket, if ``code`` is its query code; otherwise NotFound (the same either way).

    With ``client`` (the caller's address), too many failures from it within the window
    (``channels.mailbox.query_max_failures``) raise TooManyAttempts, even for a right code:
    guessing codes is not worth trying."""
    now = ctx.clock.now()
    if client is not None:
        client = client[:64]  # as stored
        wait = await _lookup_wait(ctx, client, now)
        if wait is not None:
            raise TooManyAttempts(
                f"查询失败次数过多，请{math.ceil(wait / 60)}分钟后再试", retry_after=wait
            )
    missing = NotFound(f"工单 {number} 不存在或查询码不正确")
    cleaned = (code or "").strip().upper()
    stored = None
    if is_ticket_number(number) and _CODE_RE.match(cleaned):
        async with ctx.db.reads() as session:
            stored = await session.scalar(
                select(Ticket.query_code_hash).where(Ticket.number == number)
            )
    if stored is None or not hmac.compare_digest(stored, query_code_hash(number, cleaned)):
        if client is not None:
            await _lookup_failed(ctx, client, now)
        raise missing
    return await queries.get_ticket(ctx, number)
