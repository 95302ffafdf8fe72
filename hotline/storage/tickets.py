"""Tickets (工单), their assignments, extension and return requests, and the event history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hotline.storage.base import Base, JSONType


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (Index("ix_tickets_status_due_at", "status", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    type: Mapped[str | None] = mapped_column(String(8), default=None)
    category_code: Mapped[str | None] = mapped_column(
        ForeignKey("categories.code"), index=True, default=None
    )
    title: Mapped[str | None] = mapped_column(String(200), default=None)
    content: Mapped[str] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(String(500), default=None)
    division_code: Mapped[str | None] = mapped_column(
        ForeignKey("divisions.code"), index=True, default=None
    )
    street_code: Mapped[str | None] = mapped_column(ForeignKey("divisions.code"), default=None)
    latitude: Mapped[float | None] = mapped_column(Float, default=None)
    longitude: Mapped[float | None] = mapped_column(Float, default=None)
    urgency: Mapped[str] = mapped_column(String(8), default="normal")
    #: (its index is ix_tickets_status_due_at's leading column)
    status: Mapped[str] = mapped_column(String(24))
    origin_channel: Mapped[str] = mapped_column(String(16))
    citizen_id: Mapped[int | None] = mapped_column(
        ForeignKey("citizens.id"), index=True, default=None
    )
    confidential: Mapped[bool] = mapped_column(Boolean, default=False)
    supervision_level: Mapped[int] = mapped_column(Integer, default=0)
    repeat_count: Mapped[int] = mapped_column(Integer, default=0)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    returns_approved: Mapped[int] = mapped_column(Integer, default=0)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), default=None)
    #: the lead unit's due time while a unit holds the ticket (indexed for the sweeps)
    due_at: Mapped[datetime | None] = mapped_column(default=None)
    #: why an agent must look at it: unparsed phone, unknown division, missing type, ...
    triage_reasons: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    #: 暂缓: progress, measures, expected_by, since
    suspension: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    received_at: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    version: Mapped[int] = mapped_column(Integer)
    #: the hash of the latest event: the head of this ticket's tamper-evident chain
    history_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    #: SHA-256 of the query code given to the writer (市长信箱), for the public progress query
    query_code_hash: Mapped[str | None] = mapped_column(String(64), default=None)

    assignments: Mapped[list[Assignment]] = relationship(
        order_by="Assignment.dispatched_at", lazy="raise"
    )

    __mapper_args__ = {
        "version_id_col": version,
        "version_id_generator": False,
    }


class Assignment(Base):
    """A unit's share of a ticket (主办 or 协办) with its clocks."""

    __tablename__ = "assignments"
    __table_args__ = (Index("ix_assignments_status_due_at", "status", "due_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    department_code: Mapped[str] = mapped_column(ForeignKey("departments.code"), index=True)
    role: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    dispatched_at: Mapped[datetime]
    sign_due_at: Mapped[datetime]
    return_due_at: Mapped[datetime]
    due_at: Mapped[datetime]
    signed_at: Mapped[datetime | None] = mapped_column(default=None)
    replied_at: Mapped[datetime | None] = mapped_column(default=None)
    extensions_granted: Mapped[int] = mapped_column(Integer, default=0)
    reply_content: Mapped[str | None] = mapped_column(Text, default=None)
    contacted_citizen: Mapped[bool | None] = mapped_column(Boolean, default=None)
    #: when the scheduler should next look at this assignment's clock (indexed: sweeps cost
    #: what is due, not how many tickets there are)
    next_notice_at: Mapped[datetime | None] = mapped_column(index=True, default=None)


class ExtensionRequest(Base):
    """延期申请: reason and the unit head who approved asking; decided by the centre."""

    __tablename__ = "extension_requests"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    assignment_id: Mapped[str] = mapped_column(ForeignKey("assignments.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    approved_by: Mapped[str] = mapped_column(String(100))
    requested_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(12), index=True)  # pending|approved|rejected
    old_due_at: Mapped[datetime]
    new_due_at: Mapped[datetime | None] = mapped_column(default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decided_by: Mapped[str | None] = mapped_column(String(100), default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)


class ReturnRequest(Base):
    """退回: a unit says the ticket is not its duty; the centre reviews it."""

    __tablename__ = "returns"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    assignment_id: Mapped[str] = mapped_column(ForeignKey("assignments.id"), index=True)
    department_code: Mapped[str] = mapped_column(ForeignKey("departments.code"))
    reason: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(12), index=True)  # pending|approved|rejected
    assignment_status_before: Mapped[str] = mapped_column(String(16))
    ticket_status_before: Mapped[str] = mapped_column(String(24))
    needs_arbitration: Mapped[bool] = mapped_column(Boolean, default=False)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decided_by: Mapped[str | None] = mapped_column(String(100), default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)


class TicketEvent(Base):
    """The append-only history. Database triggers refuse UPDATE and DELETE."""

    __tablename__ = "ticket_events"
    __table_args__ = (UniqueConstraint("ticket_id", "seq"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    #: the ticket's version after this event: 1 for "received", then 2, 3, ...
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(index=True)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(100))
    actor_department: Mapped[str | None] = mapped_column(String(64), default=None)
    action: Mapped[str] = mapped_column(String(32))
    status_before: Mapped[str | None] = mapped_column(String(24), default=None)
    status_after: Mapped[str] = mapped_column(String(24))
    note: Mapped[str | None] = mapped_column(Text, default=None)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    #: SHA-256 of the previous event's hash and this event's content (hotline.services.audit)
    prev_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    hash: Mapped[str | None] = mapped_column(String(64), default=None)


class TicketNumberSequence(Base):
    """Per-day counter behind ``AY20261126-000123``; bumped atomically with an upsert."""

    __tablename__ = "ticket_number_sequences"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer)
