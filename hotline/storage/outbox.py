"""The outbox: every message to a citizen or a partner, written in the transaction that causes it.

A worker (``hotline.services.outbox``) claims due rows, sends them through the sender of their
``kind`` and records the outcome. ``status`` moves pending → sending → sent, or back to pending
with a later ``next_attempt_at`` after a failure, or to dead after the last try (agents see dead
messages and may retry them). ``next_attempt_at`` doubles as the claim's lease: a claimed row is
due again when its lease runs out, so a worker that dies loses nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hotline.storage.base import Base, JSONType


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: which sender sends it: sms | wechat | platform (more may be registered)
    kind: Mapped[str] = mapped_column(String(16))
    #: idempotency key: the same message is never queued twice, and senders pass it on
    key: Mapped[str] = mapped_column(String(200), unique=True)
    #: E.164 phone, WeChat openid, platform name, ...
    recipient: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    #: what the sender needs besides the text (a platform callback's JSON document, ...)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: why it is sent: accepted | replied | extension | suspended | wechat_ack | callback ...
    purpose: Mapped[str] = mapped_column(String(32))
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id"), index=True, default=None
    )
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("citizens.id"), default=None)
    #: pending | sending | sent | dead | cancelled
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: when it is next due; while claimed, when the claim's lease runs out
    next_attempt_at: Mapped[datetime]
    claim_token: Mapped[str | None] = mapped_column(String(36), default=None)
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)
    #: set just before the sender is called; set on a reclaimed row, the send may have happened
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    #: every failed try: [{"at", "error", "permanent"}]
    errors: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    #: the carrier's id for it (Twilio's MessageSid, ...)
    provider_ref: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    #: the carrier's delivery report (Twilio status callbacks), never moved backwards
    delivery_status: Mapped[str | None] = mapped_column(String(16), default=None)
    delivery_rank: Mapped[int] = mapped_column(Integer, default=0)
    delivery_error: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    dead_at: Mapped[datetime | None] = mapped_column(default=None)
