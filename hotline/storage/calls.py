"""Voice: call records, emergency transfer attempts, and agents' ACD state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from hotline.storage.base import Base, JSONType


class Call(Base):
    """One inbound call (a contact on the phone channel), from arrival to hang-up."""

    __tablename__ = "calls"
    __table_args__ = (Index("ix_calls_stage_priority", "stage", "priority", "queued_at"),)

    call_sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), default=None)
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("citizens.id"), default=None)
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id"), index=True, default=None
    )
    from_number: Mapped[str] = mapped_column(String(64))
    from_e164: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    to_number: Mapped[str] = mapped_column(String(64))
    #: Twilio's CallStatus as last reported
    status: Mapped[str] = mapped_column(String(16))
    #: where the caller is: menu | query | emergency | queued | connecting | with_agent |
    #: conference | voicemail | ended
    stage: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    priority_reasons: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    query_attempts: Mapped[int] = mapped_column(Integer, default=0)
    arrived_at: Mapped[datetime]
    queued_at: Mapped[datetime | None] = mapped_column(default=None)
    answered_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    wait_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    talk_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    abandoned: Mapped[bool] = mapped_column(Boolean, default=False)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    #: the agent's leg of the bridge (a child call), needed to move both into a conference
    agent_leg_sid: Mapped[str | None] = mapped_column(String(64), default=None)
    conference_name: Mapped[str | None] = mapped_column(String(64), default=None)
    conference_sid: Mapped[str | None] = mapped_column(String(64), default=None)
    recording_sid: Mapped[str | None] = mapped_column(String(64), default=None)
    recording_url: Mapped[str | None] = mapped_column(String(500), default=None)
    updated_at: Mapped[datetime]


class TransferAttempt(Base):
    """一键转接: one attempt to hand a caller to 110/119/120, and what came of it."""

    __tablename__ = "transfer_attempts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    call_sid: Mapped[str] = mapped_column(ForeignKey("calls.call_sid"), index=True)
    target: Mapped[str] = mapped_column(String(3))
    number: Mapped[str] = mapped_column(String(32))
    #: menu (the caller pressed a key) | agent (from a live call, into a conference)
    via: Mapped[str] = mapped_column(String(8))
    fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    #: pending | answered | busy | no-answer | failed | canceled
    result: Mapped[str] = mapped_column(String(12))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), default=None)
    participant_sid: Mapped[str | None] = mapped_column(String(64), default=None)
    detail: Mapped[str | None] = mapped_column(Text, default=None)


class AgentState(Base):
    """An agent's ACD state; ``state_since`` of an available agent is when they became idle."""

    __tablename__ = "agent_states"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    #: available | on_call | wrap_up | offline
    state: Mapped[str] = mapped_column(String(12), index=True)
    state_since: Mapped[datetime]
    phone: Mapped[str | None] = mapped_column(String(32), default=None)
    client_identity: Mapped[str | None] = mapped_column(String(64), default=None)
    current_call_sid: Mapped[str | None] = mapped_column(String(64), default=None)
