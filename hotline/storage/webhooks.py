"""Replies to carriers' webhooks, kept so a retried delivery gets the same answer, once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hotline.storage.base import Base


class WebhookReply(Base):
    __tablename__ = "webhook_replies"

    #: sha256 of the source, the path and query, and the carrier's delivery key or form
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    #: processing | done
    state: Mapped[str] = mapped_column(String(12))
    status: Mapped[int] = mapped_column(Integer, default=200)
    content_type: Mapped[str] = mapped_column(String(64), default="text/xml")
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]
