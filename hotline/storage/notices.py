"""Deadline notices the scheduler has sent (or skipped): each exactly once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hotline.storage.base import Base


class DeadlineNotice(Base):
    __tablename__ = "deadline_notices"
    __table_args__ = (UniqueConstraint("assignment_id", "kind", "level", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[str] = mapped_column(ForeignKey("assignments.id"), index=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    department_code: Mapped[str] = mapped_column(ForeignKey("departments.code"), index=True)
    #: sign_overdue | due_soon | overdue | escalation
    kind: Mapped[str] = mapped_column(String(16))
    level: Mapped[int] = mapped_column(Integer, default=0)
    #: the due time the notice is about (an extension starts a new schedule)
    due_at: Mapped[datetime]
    fire_at: Mapped[datetime]
    fired_at: Mapped[datetime]
    #: sent | skipped (its time came when it no longer applied)
    outcome: Mapped[str] = mapped_column(String(8))
