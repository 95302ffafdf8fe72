"""The one intake value every channel adapter produces (see ``hotline.services.intake``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hotline.domain.vocabulary import Channel, TicketType, Urgency


@dataclass(frozen=True)
class IntakeValue:
    """What arrived, in plain values. ``channel_ref`` is the channel's own id (idempotency key)."""

    channel: Channel
    channel_ref: str
    received_at: datetime
    content: str
    title: str | None = None
    type: TicketType | None = None
    category: str | None = None
    address: str | None = None
    division: str | None = None
    street: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    phone: str | None = None
    name: str | None = None
    real_name: bool = False
    confidential: bool = False
    needs_assistance: bool = False
    urgency: Urgency = Urgency.NORMAL
    #: attach to this open ticket instead of opening a new one (a follow-up message)
    attach_to: str | None = None
    #: a follow-up window: the contact joins the open ticket of the same phone's latest contact
    #: on this channel received since then, if there is one (looked up by the intake in the
    #: transaction that writes contacts, so lookups that arrive together share one query)
    follow_up_since: datetime | None = None
    #: everything the carrier sent, stored with the contact
    payload: dict[str, Any] = field(default_factory=dict)
    #: values for the intake hooks only (e.g. a query code's hash); not stored by intake
    hook_data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IntakeResult:
    contact_id: int
    ticket_id: int
    number: str
    status: str
    created: bool  # False when this contact had already been taken in (a retry)
    attached: bool = False  # True when the contact joined an existing ticket
    triage_reasons: tuple[str, ...] = ()
