"""WeChat followers: subscription, and their latest ticket for the follow-up window."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from hotline.storage.base import Base


class WeChatUser(Base):
    __tablename__ = "wechat_users"

    #: the follower's openid for this official account (FromUserName)
    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    subscribed: Mapped[bool] = mapped_column(Boolean, default=True)
    subscribed_at: Mapped[datetime | None] = mapped_column(default=None)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(default=None)
    #: the ticket their latest message opened or joined, and when that message came
    last_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), default=None)
    last_contact_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime]
