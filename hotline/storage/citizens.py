"""Citizens (来电人/来信人) and contacts: every inbound interaction on any channel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hotline.storage.base import Base, JSONType


class Citizen(Base):
    __tablename__ = "citizens"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: E.164 when the number parses; unique so repeat callers are recognised
    phone: Mapped[str | None] = mapped_column(String(32), unique=True, default=None)
    #: what the citizen or carrier gave, kept when it does not parse
    phone_raw: Mapped[str | None] = mapped_column(String(64), default=None)
    name: Mapped[str | None] = mapped_column(String(100), default=None)
    real_name: Mapped[bool] = mapped_column(Boolean, default=False)
    wants_confidential: Mapped[bool] = mapped_column(Boolean, default=False)
    #: 条例第二十二条: elderly and disabled citizens get priority
    needs_assistance: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    #: 退订: the citizen asked for no notification SMS (replies to their own texts still go)
    sms_opt_out_at: Mapped[datetime | None] = mapped_column(default=None)


class Contact(Base):
    """One inbound interaction. ``(channel, channel_ref)`` is the idempotency key."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("channel", "channel_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    #: the channel's own id: CallSid, MessageSid, WeChat MsgId, external_id, Idempotency-Key
    channel_ref: Mapped[str] = mapped_column(String(200))
    citizen_id: Mapped[int | None] = mapped_column(
        ForeignKey("citizens.id"), index=True, default=None
    )
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id"), index=True, default=None
    )
    received_at: Mapped[datetime]
    created_at: Mapped[datetime]
    content: Mapped[str] = mapped_column(Text, default="")
    #: everything the carrier sent, so nothing a citizen sent is lost
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
