"""What the hotline tells citizens and platforms, queued in the transaction of the change.

Installed on the context at bootstrap as intake and lifecycle hooks (``hotline.services.hooks``):

* a new ticket from the phone, the mailbox, the console or the API → "accepted" SMS with its
  number (SMS and WeChat contacts get the number in their immediate reply instead);
* the lead unit's reply → "replied" SMS (条例第五十条: reply to the citizen);
* an extension granted → SMS with the new date and the reason;
* a suspension (暂缓) → SMS with progress, measures and the expected date;
* a platform's ticket replied or finished → the result POSTed to the platform's callback URL.

A citizen without a usable phone who wrote on WeChat gets the same texts as WeChat
customer-service messages. One who opted out (退订) gets no notification SMS.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from channels.config import ChannelsConfig
from hotline.calendar import to_shanghai
from hotline.domain.intake import IntakeValue
from hotline.domain.vocabulary import FINAL_STATUSES, Channel, Status
from hotline.services.context import Context
from hotline.services.hooks import IntakeHook, NewTicket, TicketChange
from hotline.services.outbox import Outgoing, enqueue, enqueue_in
from hotline.storage.attachments import Attachment
from hotline.storage.citizens import Citizen, Contact
from hotline.storage.tickets import ExtensionRequest, Ticket

SMS = "sms"
WECHAT = "wechat"
PLATFORM = "platform"


def cn_date(when: datetime) -> str:
    """``2026年12月3日``, in Asia/Shanghai."""
    local = to_shanghai(when)
    return f"{local.year}年{local.month}月{local.day}日"


def clip(text: str, limit: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def query_code_hash(number: str, code: str) -> str:
    """How a query code is stored: salted with its ticket number, never in clear."""
    return hashlib.sha256(f"{number}:{code.strip().upper()}".encode()).hexdigest()


def sms_text(config: ChannelsConfig, template: str, **fields: Any) -> str:
    return config.sms.signature + template.format(**fields)


class Notifier:
    """The hooks, bound to a context (config and clock)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @property
    def config(self) -> ChannelsConfig:
        return self.ctx.config.channels

    # -- intake ------------------------------------------------------------------------------

    def intake_needed(self, value: IntakeValue) -> bool:
        """Whether :meth:`on_intake` may write anything for a new ticket from this contact."""
        return bool(value.hook_data) or value.channel in self.config.sms.notify_accepted_for

    def on_intake(self, session: Session, tickets: Sequence[NewTicket]) -> None:
        now = self.ctx.clock.now()
        notify_for = set(self.config.sms.notify_accepted_for)
        wanted: list[NewTicket] = []
        for t in tickets:
            data = t.value.hook_data
            if data:
                self._store_hook_data(session, t, now)
            if t.value.channel in notify_for and t.citizen_id is not None:
                wanted.append(t)
        if not wanted:
            return
        phones = _phones(session, {t.citizen_id for t in wanted if t.citizen_id})
        messages = []
        for t in wanted:
            phone = phones.get(t.citizen_id or 0)
            if phone is None:
                continue
            body = sms_text(
                self.config,
                self.config.sms.templates.accepted,
                number=t.number,
                channel=t.value.channel.label,
            )
            messages.append(
                Outgoing(
                    kind=SMS,
                    key=f"sms:accepted:{t.number}",
                    recipient=phone,
                    body=body,
                    purpose="accepted",
                    ticket_id=t.ticket_id,
                    citizen_id=t.citizen_id,
                )
            )
        enqueue_in(session, messages, now)

    def _store_hook_data(self, session: Session, t: NewTicket, now: datetime) -> None:
        data = t.value.hook_data
        code = data.get("query_code")
        if isinstance(code, str) and code:
            session.execute(
                update(Ticket)
                .where(Ticket.id == t.ticket_id)
                .values(query_code_hash=query_code_hash(t.number, code))
            )
        files = data.get("attachments") or []
        for f in files:
            session.add(
                Attachment(
                    ticket_id=t.ticket_id,
                    contact_id=t.contact_id,
                    filename=f["filename"],
                    content_type=f["content_type"],
                    size=len(f["data"]),
                    sha256=hashlib.sha256(f["data"]).hexdigest(),
                    data=f["data"],
                    created_at=now,
                )
            )
        if files:
            session.flush()

    # -- lifecycle ---------------------------------------------------------------------------

    async def on_event(self, session: AsyncSession, change: TicketChange) -> None:
        event, ticket = change.event, change.ticket
        templates = self.config.sms.templates
        text: str | None = None
        purpose = event.action
        if event.action == "replied" and event.status_after is Status.REPLIED:
            text = templates.replied.format(
                number=ticket.number,
                reply=clip(event.note or "", self.config.sms.reply_max_chars),
            )
        elif (
            event.action in ("answered", "rejected")
            and event.status_after in (Status.ANSWERED, Status.REJECTED)
            and ticket.origin_channel in {c.value for c in self.config.sms.notify_answer_for}
        ):
            told = clip(event.note or "", self.config.sms.reply_max_chars)
            if event.action == "answered":
                text = templates.answered.format(number=ticket.number, answer=told)
            else:
                text = templates.rejected.format(number=ticket.number, guidance=told)
        elif event.action == "extension_decided" and event.data.get("approve"):
            request = await session.get(ExtensionRequest, event.data["id"])
            due = datetime.fromisoformat(event.data["new_due_at"])
            text = templates.extension.format(
                number=ticket.number,
                reason=clip(request.reason if request else "", 200),
                due_date=cn_date(due),
            )
            purpose = "extension"
        elif event.action == "suspended":
            text = templates.suspended.format(
                number=ticket.number,
                progress=clip(event.data["progress"], 200),
                measures=clip(event.data["measures"], 200),
                expected_date=cn_date(datetime.fromisoformat(event.data["expected_by"])),
            )
        messages: list[Outgoing] = []
        if text is not None:
            messages.extend(await self._to_citizen(session, ticket, change, text, purpose))
        finished = event.status_after in FINAL_STATUSES and (
            event.status_before is None or event.status_before not in FINAL_STATUSES
        )
        if (event.action == "replied" and event.status_after is Status.REPLIED) or finished:
            messages.extend(await self._to_platforms(session, ticket, change, finished))
        await enqueue(session, messages, event.at)

    async def _to_citizen(
        self,
        session: AsyncSession,
        ticket: Ticket,
        change: TicketChange,
        text: str,
        purpose: str,
    ) -> list[Outgoing]:
        version = change.state.version
        if ticket.citizen_id is not None:
            citizen = await session.get(Citizen, ticket.citizen_id)
            if citizen is not None and citizen.phone:
                if citizen.sms_opt_out_at is not None:
                    return []
                return [
                    Outgoing(
                        kind=SMS,
                        key=f"sms:{purpose}:{ticket.number}:{version}",
                        recipient=citizen.phone,
                        body=self.config.sms.signature + text,
                        purpose=purpose,
                        ticket_id=ticket.id,
                        citizen_id=citizen.id,
                    )
                ]
        openid = await _wechat_openid(session, ticket.id)
        if openid is None:
            return []
        return [
            Outgoing(
                kind=WECHAT,
                key=f"wechat:{purpose}:{ticket.number}:{version}",
                recipient=openid,
                body=text,
                purpose=purpose,
                ticket_id=ticket.id,
                citizen_id=ticket.citizen_id,
            )
        ]

    async def _to_platforms(
        self, session: AsyncSession, ticket: Ticket, change: TicketChange, finished: bool
    ) -> list[Outgoing]:
        rows = await session.execute(
            select(Contact.payload).where(
                Contact.ticket_id == ticket.id, Contact.channel == Channel.PLATFORM.value
            )
        )
        event = change.event
        what = "closed" if finished else "replied"
        status = Status(ticket.status)
        messages = []
        for (payload,) in rows:
            platform = (payload or {}).get("platform")
            external_id = (payload or {}).get("external_id")
            if not isinstance(platform, str) or not isinstance(external_id, str):
                continue
            document = {
                "external_id": external_id,
                "number": ticket.number,
                "event": what,
                "status": status.value,
                "status_label": status.label,
                "at": to_shanghai(event.at).isoformat(),
                "result": event.note,
                "action": event.action,
            }
            messages.append(
                Outgoing(
                    kind=PLATFORM,
                    key=f"platform:{platform}:{external_id}:{what}:{change.state.version}",
                    recipient=platform,
                    body=f"{ticket.number} {status.label}",
                    purpose=f"callback_{what}",
                    ticket_id=ticket.id,
                    payload={"document": document},
                )
            )
        return messages


def _phones(session: Session, citizen_ids: set[int]) -> dict[int, str]:
    """Phones of these citizens that may get notification SMS (E.164, not opted out)."""
    if not citizen_ids:
        return {}
    rows = session.execute(
        select(Citizen.id, Citizen.phone).where(
            Citizen.id.in_(citizen_ids),
            Citizen.phone.is_not(None),
            Citizen.sms_opt_out_at.is_(None),
        )
    )
    return {row.id: row.phone for row in rows if row.phone}


async def _wechat_openid(session: AsyncSession, ticket_id: int) -> str | None:
    rows = await session.execute(
        select(Contact.payload)
        .where(Contact.ticket_id == ticket_id, Contact.channel == Channel.WECHAT.value)
        .order_by(Contact.id)
        .limit(1)
    )
    for (payload,) in rows:
        openid = (payload or {}).get("FromUserName")
        if isinstance(openid, str) and openid:
            return openid
    return None


def install(ctx: Context) -> Notifier:
    """Register the hooks on ``ctx`` (called by ``hotline.bootstrap``)."""
    notifier = Notifier(ctx)
    ctx.hooks.on_intake.append(IntakeHook(notifier.on_intake, needed=notifier.intake_needed))
    ctx.hooks.on_event.append(notifier.on_event)
    return notifier
