"""The one intake service: an intake value in, a contact and a ticket out.

Every channel (phone, SMS, WeChat, mailbox, platforms, the console, the API) calls
:func:`take_in`. It writes the citizen, the ticket, its first event and the contact in one
transaction, and is idempotent on the channel's own id: the same ``(channel, channel_ref)``
again returns what the first call made, even when both arrive at once.

Nothing a citizen sent is dropped. What cannot be used as given (a phone that does not parse,
an unknown division or category, a missing type, empty text) is kept as sent, in the contact's
payload, and the ticket carries ``triage_reasons`` so an agent looks at it.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.domain.errors import Conflict
from hotline.domain.intake import IntakeResult, IntakeValue
from hotline.domain.lifecycle import Actor, AttachContact, Classification, decide, open_ticket
from hotline.domain.phones import Phone, normalise_phone
from hotline.domain.vocabulary import OPEN_STATUSES, ActorKind, Status
from hotline.services.context import Context
from hotline.services.history import append_event, next_ticket_number
from hotline.services.reference import ReferenceData
from hotline.services.tickets import load_for_update, save_event
from hotline.storage.citizens import Citizen, Contact
from hotline.storage.tickets import Ticket
from hotline.storage.upsert import dialect_insert, dialect_of


class _Checked:
    """The intake value after validation against reference data, with triage reasons."""

    def __init__(self, value: IntakeValue, ref: ReferenceData, region: str) -> None:
        reasons: list[str] = []
        self.phone: Phone | None = None
        if value.phone and value.phone.strip():
            self.phone = normalise_phone(value.phone, region)
            if not self.phone.parsed:
                reasons.append("phone_unparsed")
        if value.type is None:
            reasons.append("type_missing")
        if not value.content.strip():
            reasons.append("content_empty")
        self.category = value.category
        if self.category is not None and self.category not in ref.categories:
            reasons.append(f"category_unknown:{self.category}")
            self.category = None
        self.division = value.division
        if self.division is not None and (
            self.division not in ref.divisions or ref.divisions[self.division].level != "county"
        ):
            reasons.append(f"division_unknown:{self.division}")
            self.division = None
        self.street = value.street
        if self.street is not None:
            street = ref.divisions.get(self.street)
            if street is None or street.level != "street":
                reasons.append(f"street_unknown:{self.street}")
                self.street = None
            elif self.division is None:
                self.division = street.parent_code
            elif street.parent_code != self.division:
                reasons.append(f"street_not_in_division:{self.street}")
                self.street = None
        self.latitude, self.longitude = value.latitude, value.longitude
        if not _valid_location(value.latitude, value.longitude):
            reasons.append("location_invalid")
            self.latitude = self.longitude = None
        self.reasons = reasons


def _valid_location(lat: float | None, lng: float | None) -> bool:
    if lat is None and lng is None:
        return True
    if lat is None or lng is None:
        return False
    if not (math.isfinite(lat) and math.isfinite(lng)):
        return False
    return -90 <= lat <= 90 and -180 <= lng <= 180


async def take_in(ctx: Context, value: IntakeValue, actor: Actor | None = None) -> IntakeResult:
    if value.received_at.tzinfo is None:
        raise ValueError("IntakeValue.received_at must be timezone-aware")
    ref = await ctx.reference.get()
    checked = _Checked(value, ref, ctx.config.city.phone_region)
    who = actor or Actor(ActorKind.CITIZEN, value.channel.value)
    try:
        async with ctx.db.sessions() as session, session.begin():
            return await _write(ctx, session, value, checked, who)
    except IntegrityError:
        # The same (channel, channel_ref) was taken in concurrently; ours rolled back whole.
        existing = await find_contact(ctx, value.channel.value, value.channel_ref)
        if existing is None:
            raise
        result, content = existing
        if content != value.content:
            raise Conflict(
                f"{value.channel.value} 标识 {value.channel_ref} 已用于另一条内容不同的诉求",
                code="duplicate_conflict",
            ) from None
        return result


async def find_contact(
    ctx: Context, channel: str, channel_ref: str
) -> tuple[IntakeResult, str] | None:
    """What an earlier contact with this key made, and the text it carried."""
    async with ctx.db.sessions() as session:
        row = (
            await session.execute(
                select(Contact.id, Contact.ticket_id, Contact.content, Ticket.number, Ticket.status)
                .join(Ticket, Ticket.id == Contact.ticket_id)
                .where(Contact.channel == channel, Contact.channel_ref == channel_ref)
            )
        ).first()
    if row is None:
        return None
    result = IntakeResult(
        contact_id=row.id,
        ticket_id=row.ticket_id,
        number=row.number,
        status=row.status,
        created=False,
    )
    return result, row.content


async def _write(
    ctx: Context, session: AsyncSession, value: IntakeValue, checked: _Checked, actor: Actor
) -> IntakeResult:
    now = ctx.clock.now()
    existing = (
        await session.execute(
            select(Contact.id).where(
                Contact.channel == value.channel.value, Contact.channel_ref == value.channel_ref
            )
        )
    ).first()
    if existing is not None:
        raise _AlreadyTaken()
    citizen_id = await _citizen_id(session, value, checked, now)
    if value.attach_to:
        attached = await _attach(ctx, session, value, citizen_id, actor, now)
        if attached is not None:
            return attached
    number = await next_ticket_number(session, ctx.config.city.ticket_prefix, now)
    classification = Classification(
        type=value.type,
        category=checked.category,
        division=checked.division,
        street=checked.street,
        urgency=value.urgency,
        confidential=value.confidential,
    )
    _, event = open_ticket(number, classification, actor, now)
    event = replace(
        event, note=value.channel.label, data={**event.data, "channel": value.channel.value}
    )
    ticket_id = (
        await session.execute(
            insert(Ticket)
            .values(
                number=number,
                type=value.type.value if value.type else None,
                category_code=checked.category,
                title=value.title,
                content=value.content,
                address=value.address,
                division_code=checked.division,
                street_code=checked.street,
                latitude=checked.latitude,
                longitude=checked.longitude,
                urgency=value.urgency.value,
                status=Status.RECEIVED.value,
                origin_channel=value.channel.value,
                citizen_id=citizen_id,
                confidential=value.confidential,
                supervision_level=0,
                repeat_count=0,
                reopen_count=0,
                returns_approved=0,
                triage_reasons=checked.reasons,
                received_at=value.received_at,
                created_at=now,
                updated_at=now,
                version=1,
            )
            .returning(Ticket.id)
        )
    ).scalar_one()
    await append_event(session, ticket_id, 1, event)
    contact_id = await _insert_contact(session, value, citizen_id, ticket_id, now)
    return IntakeResult(
        contact_id=contact_id,
        ticket_id=ticket_id,
        number=number,
        status=Status.RECEIVED.value,
        created=True,
        triage_reasons=tuple(checked.reasons),
    )


class _AlreadyTaken(IntegrityError):
    """Raised inside the transaction to roll it back and answer with the earlier result."""

    def __init__(self) -> None:
        super().__init__("contact already taken in", None, Exception("duplicate contact"))


async def _insert_contact(
    session: AsyncSession,
    value: IntakeValue,
    citizen_id: int | None,
    ticket_id: int,
    now: datetime,
) -> int:
    payload: dict[str, Any] = dict(value.payload)
    if value.phone is not None:
        payload.setdefault("phone", value.phone)
    return (
        await session.execute(
            insert(Contact)
            .values(
                channel=value.channel.value,
                channel_ref=value.channel_ref,
                citizen_id=citizen_id,
                ticket_id=ticket_id,
                received_at=value.received_at,
                created_at=now,
                content=value.content,
                payload=payload,
            )
            .returning(Contact.id)
        )
    ).scalar_one()


async def _citizen_id(
    session: AsyncSession, value: IntakeValue, checked: _Checked, now: datetime
) -> int | None:
    phone = checked.phone
    if phone is None and not value.name:
        return None
    fields = {
        "phone_raw": phone.raw if phone else None,
        "name": value.name,
        "real_name": value.real_name,
        "wants_confidential": value.confidential,
        "needs_assistance": value.needs_assistance,
        "created_at": now,
        "updated_at": now,
    }
    if phone is None or phone.e164 is None:
        # Without a usable number there is nothing to recognise the citizen by: a new record.
        return (
            await session.execute(
                insert(Citizen).values(phone=None, **fields).returning(Citizen.id)
            )
        ).scalar_one()
    dialect = dialect_of(session)
    stmt = dialect_insert(dialect, Citizen).values(phone=phone.e164, **fields)
    updates: dict[str, Any] = {"updated_at": stmt.excluded.updated_at}
    if value.name:
        updates["name"] = stmt.excluded.name
        updates["real_name"] = stmt.excluded.real_name
    if value.needs_assistance:
        updates["needs_assistance"] = True
    if value.confidential:
        updates["wants_confidential"] = True
    stmt = stmt.on_conflict_do_update(index_elements=[Citizen.phone], set_=updates).returning(
        Citizen.id
    )
    return int((await session.execute(stmt)).scalar_one())


async def _attach(
    ctx: Context,
    session: AsyncSession,
    value: IntakeValue,
    citizen_id: int | None,
    actor: Actor,
    now: datetime,
) -> IntakeResult | None:
    """Attach the contact to an open ticket (a follow-up). None: open a new ticket instead."""
    loaded = await load_for_update(session, value.attach_to or "")
    if loaded is None or Status(loaded.row.status) not in OPEN_STATUSES:
        return None
    contact_id = await _insert_contact(session, value, citizen_id, loaded.row.id, now)
    event = decide(loaded.state, AttachContact(str(contact_id), value.channel.value), actor, now)
    await save_event(ctx, session, loaded, event)
    return IntakeResult(
        contact_id=contact_id,
        ticket_id=loaded.row.id,
        number=loaded.row.number,
        status=loaded.row.status,
        created=True,
        attached=True,
    )
