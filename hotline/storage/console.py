"""The agent console's own tables: sign-in sessions and the sign-in attempts behind throttling."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from hotline.storage.base import Base
from hotline.storage.calls import Call
from hotline.storage.tickets import Assignment

# Indexes the console's pages need on other tables, so that a page costs what is open, not
# what the history holds:
#: the wallboard counts today's calls (answered in time, abandoned) by arrival time
CALLS_BY_ARRIVAL = Index("ix_calls_arrived_at", Call.arrived_at)
#: the department desk: a unit's active assignments by due time
UNIT_DESK = Index(
    "ix_assignments_department_code_status_due_at",
    Assignment.department_code,
    Assignment.status,
    Assignment.due_at,
)


class ConsoleSession(Base):
    """A signed-in browser. The cookie carries a random token; only its SHA-256 is stored, so a
    copy of the table signs nobody in. Signing out deletes the row."""

    __tablename__ = "console_sessions"

    #: SHA-256 (hex) of the cookie's token
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    #: the absolute end of the session (a shift and some margin), whatever the activity
    expires_at: Mapped[datetime] = mapped_column(index=True)
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(200), default=None)


class LoginAttempt(Base):
    """One sign-in attempt, kept for the throttling window (per user name and per address)."""

    __tablename__ = "console_login_attempts"
    __table_args__ = (
        Index("ix_console_login_attempts_username_at", "username", "at"),
        Index("ix_console_login_attempts_ip_at", "ip", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    success: Mapped[bool] = mapped_column(Boolean)
