"""The one intake service: an intake value in, a contact and a ticket out.

Every channel (phone, SMS, WeChat, mailbox, platforms, the console, the API) calls
:func:`take_in`. It writes the citizen, the ticket, its first event and the contact in one
transaction, and is idempotent on the channel's own id: the same ``(channel, channel_ref)``
again returns what the first call made, even when both arrive at once (a different text under
the same id is a :class:`Conflict`).

Contacts that arrive together are written together (group commit): while one transaction
commits, the next contacts queue, and the next transaction writes all of them with one
multi-row statement per table. A caller's result is given only after its transaction
committed. If a shared transaction fails, its contacts are retried one by one, so one bad
contact never costs the others. A single caller pays nothing for this: a queue of one is
written at once. The transaction is one synchronous unit of work (``Database.write``): on a
SQLite file with a connection of its own, on the serving loop while the write lock is free and
on the database's write thread while another process holds it; the intake hooks run inside it
and are synchronous too. On PostgreSQL a batch of new contacts whose hooks need no session is
one statement instead, its own transaction (see "one statement" below).

Nothing a citizen sent is dropped. What cannot be used as given (a phone that does not parse,
an unknown division or category, a missing type, empty text) is kept as sent, in the contact's
payload, and the ticket carries ``triage_reasons`` so an agent looks at it.
"""

from __future__ import annotations

import asyncio
import functools
import math
import weakref
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    and_,
    bindparam,
    case,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hotline.calendar import local_day
from hotline.domain.errors import Conflict, DomainError
from hotline.domain.intake import IntakeResult, IntakeValue
from hotline.domain.lifecycle import (
    Actor,
    AttachContact,
    Classification,
    Event,
    decide,
    opening_event,
)
from hotline.domain.numbers import format_number
from hotline.domain.phones import Phone, normalise_phone
from hotline.domain.vocabulary import OPEN_STATUSES, ActorKind, Status
from hotline.services.context import Context
from hotline.services.history import chained_event, reserve_numbers
from hotline.services.hooks import NewTicket
from hotline.services.reference import ReferenceData
from hotline.services.tickets import load_for_update, save_event
from hotline.storage.rows import Chain, Link, LinkedInsert, RowInsert, RowQuery, text_arrays
from hotline.storage.tables import (
    CITIZENS,
    CONTACTS,
    TICKET_EVENTS,
    TICKET_NUMBER_SEQUENCES,
    TICKETS,
)
from hotline.storage.upsert import dialect_insert

#: contacts written by one transaction at most (keeps statements under parameter limits)
MAX_BATCH = 200

# The batch's rows go through prebuilt statements (hotline.storage.rows: straight to the driver,
# SQLAlchemy's execution layer cost more than the database's work). RETURNING rows are matched
# by key (number, channel and channel_ref), as PostgreSQL returns them in its order.
# Tickets, their opening events and their contacts go together (on PostgreSQL one statement):
# the events' and contacts' rows name their ticket by its number.
_NEW_TICKETS = LinkedInsert(
    RowInsert(TICKETS, TICKETS.c.id, TICKETS.c.number),
    TICKETS.c.number,
    (RowInsert(TICKET_EVENTS), TICKET_EVENTS.c.ticket_id),
    (
        RowInsert(CONTACTS, CONTACTS.c.id, CONTACTS.c.channel, CONTACTS.c.channel_ref),
        CONTACTS.c.ticket_id,
    ),
)
# one row at a time, on the rarer paths: a follow-up attached to its ticket, a citizen without
# a usable number
_INSERT_CONTACT = insert(CONTACTS).returning(CONTACTS.c.id)
_INSERT_CITIZEN = insert(CITIZENS).returning(CITIZENS.c.id)


_EXISTING = select(
    CONTACTS.c.id,
    CONTACTS.c.channel,
    CONTACTS.c.channel_ref,
    CONTACTS.c.ticket_id,
    CONTACTS.c.content,
    CONTACTS.c.payload,
    TICKETS.c.number,
    TICKETS.c.status,
).outerjoin(TICKETS, TICKETS.c.id == CONTACTS.c.ticket_id)
# The channel is part of the condition so that the (channel, channel_ref) unique index is used:
# channel_ref alone has no index of its own, and every batch would read the whole table.
_EXISTING_ONE = RowQuery(
    _EXISTING.where(
        CONTACTS.c.channel == bindparam("channel"), CONTACTS.c.channel_ref == bindparam("ref")
    )
)
_EXISTING_MANY = RowQuery(
    _EXISTING.where(
        CONTACTS.c.channel.in_(bindparam("channels", expanding=True)),
        CONTACTS.c.channel_ref.in_(bindparam("refs", expanding=True)),
    )
)

# Follow-ups: the recent contacts of these phones with their tickets, newest first. No
# condition on the channel (rows of other channels are skipped in Python): SQLite, without
# statistics, would otherwise walk the (channel, channel_ref) index over every contact of the
# channel; this way it reads the few recent contacts of these citizens by ix_contacts_citizen_id.
_FOLLOW_UPS = RowQuery(
    select(
        CITIZENS.c.phone,
        CONTACTS.c.channel,
        CONTACTS.c.received_at,
        TICKETS.c.number,
        TICKETS.c.status,
    )
    .select_from(
        CITIZENS.join(CONTACTS, CONTACTS.c.citizen_id == CITIZENS.c.id).join(
            TICKETS, TICKETS.c.id == CONTACTS.c.ticket_id
        )
    )
    .where(
        CITIZENS.c.phone.in_(bindparam("phones", expanding=True)),
        CONTACTS.c.received_at >= bindparam("since"),
    )
    .order_by(CONTACTS.c.received_at.desc(), CONTACTS.c.id.desc())
)


@functools.cache
def _upsert_citizen(dialect: str) -> RowInsert:
    """Insert a citizen known by phone, or refresh what we know of them."""
    table = CITIZENS
    stmt = dialect_insert(dialect, table)
    new = stmt.excluded
    upsert = stmt.on_conflict_do_update(
        index_elements=[table.c.phone],
        set_={
            "updated_at": new.updated_at,
            "name": func.coalesce(new.name, table.c.name),
            "real_name": case((new.name.is_not(None), new.real_name), else_=table.c.real_name),
            "wants_confidential": or_(table.c.wants_confidential, new.wants_confidential),
            "needs_assistance": or_(table.c.needs_assistance, new.needs_assistance),
        },
    )
    return RowInsert(table, table.c.id, table.c.phone, upsert=(upsert, table.c.phone))


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


@dataclass
class _Item:
    value: IntakeValue
    checked: _Checked
    actor: Actor

    @property
    def key(self) -> tuple[str, str]:
        return (self.value.channel.value, self.value.channel_ref)


@dataclass(frozen=True)
class _Joins:
    """A follow-up found its open ticket: the contact is attached to it (``_attach``)."""

    number: str


Outcome = IntakeResult | DomainError | _Joins


async def take_in(ctx: Context, value: IntakeValue, actor: Actor | None = None) -> IntakeResult:
    if value.received_at.tzinfo is None:
        raise ValueError("IntakeValue.received_at must be timezone-aware")
    if value.follow_up_since is not None and value.follow_up_since.tzinfo is None:
        raise ValueError("IntakeValue.follow_up_since must be timezone-aware")
    ref = await ctx.reference.get()
    item = _Item(
        value=value,
        checked=_Checked(value, ref, ctx.config.city.phone_region),
        actor=actor or Actor(ActorKind.CITIZEN, value.channel.value),
    )
    if value.attach_to:
        attached = await _attach(ctx, item)
        if attached is not None:
            return attached
        item = replace(item, value=replace(value, attach_to=None, follow_up_since=None))
    outcome = await _writer(ctx).submit(item)
    if isinstance(outcome, _Joins):
        follow = replace(item.value, attach_to=outcome.number, follow_up_since=None)
        attached = await _attach(ctx, replace(item, value=follow))
        if attached is not None:
            return attached
        # the ticket finished in the meantime: a new matter after all
        follow = replace(follow, attach_to=None)
        outcome = await _writer(ctx).submit(replace(item, value=follow))
    if isinstance(outcome, DomainError):
        raise outcome
    if isinstance(outcome, _Joins):  # pragma: no cover - no follow-up window was given
        raise AssertionError("a contact without a follow-up window cannot join a ticket")
    return outcome


# -- group commit ----------------------------------------------------------------------------


class _Writer:
    """Queues contacts and writes whatever has queued in one transaction, in turn.

    One drain runs at a time, on every database. SQLite has one writer. PostgreSQL would take
    several, but concurrent batches queue on the day's number counter anyway (its row stays
    locked until commit), and one drain at a time gathers larger batches: with four the
    benchmark's webhooks took 2.0 ms of CPU each and 462 req/s, with one 1.4 ms and 545
    (docs/performance.md). The one-statement batches (below) hold the counter's row for the
    whole statement, so two of them in flight gain nothing either: 1,776 against 2,198 req/s.
    Several instances each have their own drain.

    Where a batch is written on the loop without yielding (SQLite), nothing can queue while it
    is written, and under load (the last batch held several contacts) a drain first waits
    ``database.group_commit_delay_ms`` for more to join: each batch costs a transaction, a
    commit and a statement or two per table, whatever it holds, and on the channels benchmark
    batches of 8 became batches of 18 and the CPU a webhook 10% less. A contact that comes
    alone is written at once. On PostgreSQL contacts queue during the batch's round trips
    anyway, and the wait only cost throughput (948 against 1,008 req/s in four pairs).
    """

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._queue: list[tuple[_Item, asyncio.Future[Outcome]]] = []
        self._drains: set[asyncio.Task[None]] = set()
        #: contacts in the last batch written: more than one, and others are arriving
        self._last_batch = 0
        #: the day's ticket number counter as this process last left it (``_write_at_once``)
        self.numbers: tuple[date, int] | None = None
        #: batches written and contacts in them, by way (``batch_counts``)
        self.ways: dict[str, list[int]] = {STATEMENT: [0, 0], TRANSACTION: [0, 0]}

    async def submit(self, item: _Item) -> Outcome:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if not self._drains:
            task = asyncio.create_task(self._drain())
            self._drains.add(task)
        # A caller that goes away (a dropped HTTP request) cancels only its own future: the
        # write is the drain task's, and the drain skips futures that are already done.
        return await future

    async def _drain(self) -> None:
        try:
            delay = self._ctx.config.database.group_commit_delay_ms
            if delay > 0 and self._last_batch > 1 and self._ctx.db.writes_on_loop:
                await asyncio.sleep(delay / 1000)  # gather more (see the class text)
            await self._drain_queue()
        finally:
            # Leaves the set in the same step as it saw the queue empty: a contact queued
            # after this starts a drain of its own (a done-callback would run a step later,
            # after a caller woken by the last result may already have queued the next one).
            self._drains.discard(asyncio.current_task())

    async def _drain_queue(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            self._last_batch = len(batch)
            try:
                outcomes = await _write_batch(self._ctx, [item for item, _ in batch])
            except Exception:  # noqa: BLE001 - a shared failure: retry each contact alone
                await self._one_by_one(batch)
                continue
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if not future.done():
                    future.set_result(outcome)

    async def _one_by_one(self, batch: list[tuple[_Item, asyncio.Future[Outcome]]]) -> None:
        for item, future in batch:
            try:
                outcome = await _write_alone(self._ctx, item)
            except Exception as exc:  # noqa: BLE001 - every caller must get an answer
                if not future.done():
                    future.set_exception(exc)
            else:
                if not future.done():
                    future.set_result(outcome)


_writers: weakref.WeakKeyDictionary[Context, _Writer] = weakref.WeakKeyDictionary()


def _writer(ctx: Context) -> _Writer:
    writer = _writers.get(ctx)
    if writer is None:
        writer = _writers[ctx] = _Writer(ctx)
    return writer


async def _write_alone(ctx: Context, item: _Item) -> Outcome:
    try:
        return (await _write_batch(ctx, [item]))[0]
    except IntegrityError:
        # Taken in concurrently elsewhere (another instance): answer with that contact.
        found = await find_contact(ctx, *item.key)
        if found is None:
            raise
        return _repeat(found, item)
    except DomainError as exc:
        return exc


def _repeat(found: tuple[IntakeResult, str], item: _Item) -> IntakeResult | DomainError:
    result, content = found
    if content != item.value.content:
        return Conflict(
            f"{item.value.channel.value} 标识 {item.value.channel_ref} 已用于另一条内容不同的诉求",
            code="duplicate_conflict",
        )
    return replace(result, created=False, attached=False, triage_reasons=())


@dataclass(frozen=True)
class _Earlier:
    """A contact already stored under this key; ``number`` is None while it has no ticket."""

    contact_id: int
    ticket_id: int | None
    number: str | None
    status: str | None
    content: str
    payload: dict[str, Any]

    def result(self) -> tuple[IntakeResult, str] | None:
        if self.ticket_id is None or self.number is None or self.status is None:
            return None
        made = IntakeResult(
            contact_id=self.contact_id,
            ticket_id=self.ticket_id,
            number=self.number,
            status=self.status,
            created=False,
        )
        return made, self.content


async def find_contact(
    ctx: Context, channel: str, channel_ref: str
) -> tuple[IntakeResult, str] | None:
    """What an earlier contact with this key made, and the text it carried."""
    async with ctx.db.reads() as session:
        found = await session.run_sync(_existing, {(channel, channel_ref)})
    earlier = found.get((channel, channel_ref))
    return earlier.result() if earlier else None


@dataclass(frozen=True)
class ContactState:
    """A stored contact: has it a ticket yet (a call in progress has not), and its payload."""

    ticketed: bool
    payload: dict[str, Any]


async def contact_state(ctx: Context, channel: str, channel_ref: str) -> ContactState | None:
    async with ctx.db.reads() as session:
        found = (await session.run_sync(_existing, {(channel, channel_ref)})).get(
            (channel, channel_ref)
        )
    if found is None:
        return None
    return ContactState(found.ticket_id is not None, found.payload)


def _existing(session: Session, keys: set[tuple[str, str]]) -> dict[tuple[str, str], _Earlier]:
    params: dict[str, Any]
    stmt: RowQuery
    if len(keys) == 1:
        ((channel, ref),) = keys
        stmt, params = _EXISTING_ONE, {"channel": channel, "ref": ref}
    else:
        stmt = _EXISTING_MANY
        params = {
            "channels": sorted({c for c, _ in keys}),
            "refs": sorted({ref for _, ref in keys}),
        }
    return {
        (row.channel, row.channel_ref): _Earlier(
            row.id, row.ticket_id, row.number, row.status, row.content, dict(row.payload or {})
        )
        for row in stmt.run(session.connection(), params)
        if (row.channel, row.channel_ref) in keys
    }


# -- writing -------------------------------------------------------------------------------


async def _write_batch(ctx: Context, items: list[_Item]) -> list[Outcome]:
    """One transaction for these contacts (``Database.write``: on SQLite with its write
    connection, on the loop or the write thread; else ``run_sync``). Synchronous from here
    down, hooks included. On PostgreSQL new contacts go as one statement when they can
    (``_write_at_once``)."""
    way = STATEMENT
    written = await _write_at_once(ctx, items) if ctx.db.statements_alone else None
    if written is None:
        way = TRANSACTION
        written = await ctx.db.write(_write_batch_in, ctx, items)
    counts = _writer(ctx).ways[way]
    counts[0] += 1
    counts[1] += len(items)
    return written


#: the ways a batch is written (``batch_counts``): one statement (PostgreSQL), a transaction
STATEMENT, TRANSACTION = "statement", "transaction"


def batch_counts(ctx: Context) -> dict[str, tuple[int, int]]:
    """Batches this process wrote and the contacts in them, by way: how often PostgreSQL's one
    statement served, and how often a batch went the transaction's way (every batch on
    SQLite; on PostgreSQL retries, follow-ups, contacts whose hooks need a session, and
    batches that lost the day's counter to another instance)."""
    return {way: (counts[0], counts[1]) for way, counts in _writer(ctx).ways.items()}


def _write_batch_in(session: Session, ctx: Context, items: list[_Item]) -> list[Outcome]:
    now = ctx.clock.now()
    outcomes: list[Outcome | None] = [None] * len(items)
    earlier = _existing(session, {item.key for item in items})
    fresh: list[int] = []
    first: dict[tuple[str, str], int] = {}
    for i, item in enumerate(items):
        made = earlier[item.key].result() if item.key in earlier else None
        if made is not None:
            outcomes[i] = _repeat(made, item)
        elif item.key not in first:
            first[item.key] = i
            fresh.append(i)
    pending = {key: e for key, e in earlier.items() if e.ticket_id is None}
    joins = _follow_ups(session, [(i, items[i]) for i in fresh], pending)
    for i, number in joins.items():
        outcomes[i] = _Joins(number)
    fresh = [i for i in fresh if i not in joins]
    if fresh:
        written = _write_new(ctx, session, [items[i] for i in fresh], now, pending)
        for i, result in zip(fresh, written, strict=True):
            outcomes[i] = result
    for i, item in enumerate(items):
        if outcomes[i] is None:  # the same contact twice in one batch
            twin = outcomes[first[item.key]]
            if isinstance(twin, _Joins):
                outcomes[i] = twin
                continue
            assert isinstance(twin, IntakeResult)  # noqa: S101 - written just above
            outcomes[i] = _repeat((twin, items[first[item.key]].value.content), item)
    return [o for o in outcomes if o is not None]


def _follow_ups(
    session: Session,
    candidates: list[tuple[int, _Item]],
    pending: dict[tuple[str, str], _Earlier],
) -> dict[int, str]:
    """Which of these new contacts follow up an open ticket (``IntakeValue.follow_up_since``):
    by index, the number of the ticket each joins. One query for the whole batch."""
    wanted: list[tuple[int, _Item, str, datetime]] = []
    for i, item in candidates:
        window, parsed = item.value.follow_up_since, item.checked.phone
        if window is None or parsed is None or parsed.e164 is None or item.key in pending:
            continue
        wanted.append((i, item, parsed.e164, window))
    if not wanted:
        return {}
    conn = session.connection()
    params = {
        "phones": sorted({phone for _, _, phone, _ in wanted}),
        "since": min(since for _, _, _, since in wanted),
    }
    latest: dict[tuple[str, str], Any] = {}
    for row in _FOLLOW_UPS.run(conn, params):
        latest.setdefault((row.phone, row.channel), row)
    joins: dict[int, str] = {}
    for i, item, phone, since in wanted:
        last = latest.get((phone, item.value.channel.value))
        if last is not None and last.received_at >= since and Status(last.status) in OPEN_STATUSES:
            joins[i] = last.number
    return joins


def _write_new(
    ctx: Context,
    session: Session,
    items: list[_Item],
    now: datetime,
    pending: dict[tuple[str, str], _Earlier],
) -> list[IntakeResult]:
    """Tickets for new contacts. ``pending``: contacts already stored without a ticket (a call
    in progress), which get their ticket instead of a second contact row."""
    citizens = _citizen_ids(session, items, now)
    day, first_seq = reserve_numbers(session.connection(), now, len(items))
    # (if this transaction rolls back, the next one-statement batch finds the counter
    # elsewhere and comes this way again)
    _writer(ctx).numbers = (day, first_seq + len(items) - 1)
    prefix = ctx.config.city.ticket_prefix
    numbers = [format_number(prefix, day, first_seq + n) for n in range(len(items))]
    events, chained = _opening(items, numbers, now)
    ticket_rows = [
        {**_ticket_row(item, number, citizen, now), "history_hash": values["hash"]}
        for item, number, citizen, values in zip(items, numbers, citizens, chained, strict=True)
    ]
    conn = session.connection()
    new_contacts = [
        _contact_row(item, citizen, number, now)  # the ticket by its number
        for item, number, citizen in zip(items, numbers, citizens, strict=True)
        if item.key not in pending
    ]
    tickets, (_, contacts) = _NEW_TICKETS.run(
        conn,
        ticket_rows,
        [
            [{"ticket_id": n, **v} for n, v in zip(numbers, chained, strict=True)],
            new_contacts,
        ],
    )
    ids = {number: ticket_id for ticket_id, number in tickets}
    contact_ids = {key: earlier.contact_id for key, earlier in pending.items()}
    for contact_id, channel, channel_ref in contacts:
        contact_ids[(channel, channel_ref)] = contact_id
    for item, number, citizen in zip(items, numbers, citizens, strict=True):
        if item.key in pending:
            stored = pending[item.key]
            conn.execute(
                update(CONTACTS)
                .where(CONTACTS.c.id == stored.contact_id)
                .values(
                    ticket_id=ids[number],
                    citizen_id=func.coalesce(CONTACTS.c.citizen_id, citizen),
                    content=item.value.content,
                    payload={**stored.payload, **_contact_row(item, citizen, 0, now)["payload"]},
                )
            )
    made = [
        NewTicket(
            ticket_id=ids[number],
            number=number,
            contact_id=contact_ids[item.key],
            citizen_id=citizen,
            value=item.value,
            event=event,
        )
        for item, number, citizen, event in zip(items, numbers, citizens, events, strict=True)
    ]
    for hook in ctx.hooks.on_intake:
        hook(session, made)
    return [
        _received(item, t.number, t.ticket_id, t.contact_id)
        for t, item in zip(made, items, strict=True)
    ]


def _received(item: _Item, number: str, ticket_id: int, contact_id: int) -> IntakeResult:
    """The result for a contact that made a new ticket."""
    return IntakeResult(
        contact_id=contact_id,
        ticket_id=ticket_id,
        number=number,
        status=Status.RECEIVED.value,
        created=True,
        triage_reasons=tuple(item.checked.reasons),
    )


def _opening(
    items: list[_Item], numbers: list[str], now: datetime
) -> tuple[list[Event], list[dict[str, Any]]]:
    """The new tickets' opening events, and their rows with their place in the hash chain."""
    events = [
        opening_event(
            number,
            _classification(item),
            item.actor,
            now,
            note=item.value.channel.label,
            channel=item.value.channel.value,
        )
        for item, number in zip(items, numbers, strict=True)
    ]
    return events, [chained_event(None, n, 1, e) for n, e in zip(numbers, events, strict=True)]


def _classification(item: _Item) -> Classification:
    return Classification(
        type=item.value.type,
        category=item.checked.category,
        division=item.checked.division,
        street=item.checked.street,
        urgency=item.value.urgency,
        confidential=item.value.confidential,
    )


def _ticket_row(
    item: _Item, number: str, citizen_id: int | str | None, now: datetime
) -> dict[str, Any]:
    """``citizen_id``: on the one-statement path the citizen's number (``Link``'s key)."""
    value, checked = item.value, item.checked
    return {
        "number": number,
        "type": value.type.value if value.type else None,
        "category_code": checked.category,
        "title": value.title,
        "content": value.content,
        "address": value.address,
        "division_code": checked.division,
        "street_code": checked.street,
        "latitude": checked.latitude,
        "longitude": checked.longitude,
        "urgency": value.urgency.value,
        "status": Status.RECEIVED.value,
        "origin_channel": value.channel.value,
        "citizen_id": citizen_id,
        "confidential": value.confidential,
        "supervision_level": 0,
        "repeat_count": 0,
        "reopen_count": 0,
        "returns_approved": 0,
        "merged_into_id": None,
        "due_at": None,
        "suspension": None,
        "closed_at": None,
        "triage_reasons": list(checked.reasons),
        "received_at": value.received_at,
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }


def _contact_row(
    item: _Item, citizen_id: int | None, ticket: int | str, now: datetime
) -> dict[str, Any]:
    value = item.value
    payload: dict[str, Any] = dict(value.payload)
    if value.phone is not None:
        payload.setdefault("phone", value.phone)
    return {
        "channel": value.channel.value,
        "channel_ref": value.channel_ref,
        "citizen_id": citizen_id,
        "ticket_id": ticket,
        "received_at": value.received_at,
        "created_at": now,
        "content": value.content,
        "payload": payload,
    }


def _citizen_fields(item: _Item, phone: Phone | None, now: datetime) -> dict[str, Any]:
    value = item.value
    return {
        "phone": phone.e164 if phone else None,
        "phone_raw": phone.raw if phone else None,
        "name": value.name or None,
        "real_name": value.real_name,
        "wants_confidential": value.confidential,
        "needs_assistance": value.needs_assistance,
        "created_at": now,
        "updated_at": now,
    }


def _citizens_by_phone(items: list[_Item], now: datetime) -> dict[str, dict[str, Any]]:
    """The citizens' rows of the contacts with a usable number, one a number."""
    by_phone: dict[str, dict[str, Any]] = {}
    for item in items:
        phone = item.checked.phone
        if phone is None or phone.e164 is None:
            continue
        fields = _citizen_fields(item, phone, now)
        seen = by_phone.get(phone.e164)
        if seen is not None:  # the same caller twice in one batch: merge what they told us
            fields["name"] = fields["name"] or seen["name"]
            for flag in ("real_name", "wants_confidential", "needs_assistance"):
                fields[flag] = fields[flag] or seen[flag]
        by_phone[phone.e164] = fields
    return by_phone


def _citizen_ids(session: Session, items: list[_Item], now: datetime) -> list[int | None]:
    """Upsert citizens known by phone (one statement); others get a record each."""
    by_phone = _citizens_by_phone(items, now)
    ids: dict[str, int] = {}
    conn = session.connection()
    if by_phone:
        upsert = _upsert_citizen(conn.dialect.name)
        ids = {phone: citizen for citizen, phone in upsert.run(conn, list(by_phone.values()))}
    result: list[int | None] = []
    for item in items:
        phone = item.checked.phone
        if phone is not None and phone.e164 is not None:
            result.append(ids[phone.e164])
        elif phone is not None or item.value.name:
            # Without a usable number there is nothing to recognise the citizen by.
            fields = _citizen_fields(item, phone, now)
            result.append(conn.execute(_INSERT_CITIZEN, fields).scalar_one())
        else:
            result.append(None)
    return result


# -- one statement (PostgreSQL) --------------------------------------------------------------
#
# A batch of new contacts from citizens with usable numbers, whose hooks have nothing to write
# but NOTIFY messages, is known whole before it is written once its ticket numbers are: they
# follow the day's counter as this process last left it. On PostgreSQL such a batch goes as one
# statement, its own transaction, instead of a transaction of eight round trips: it raises the
# counter only if it still holds that value and none of the contacts is stored already nor
# follows up a recent contact of the same number (where the transaction's way decides), and
# writes the citizens, tickets, opening events and contacts and sends the live events only if
# it did. So numbers stay without gaps, and a batch the statement does not write (another
# writer took numbers meanwhile, a retry, a possible follow-up, the first of the day) goes the
# transaction's way, which also finds the counter again.

_PROBE_KEYS = text_arrays("probe_key", channel="probe_channels", ref="probe_refs")
_PROBE_PHONES = text_arrays("probe_phone", phone="probe_phones")
_STORED = (
    select(literal(1))
    .select_from(
        CONTACTS.join(
            _PROBE_KEYS,
            and_(
                CONTACTS.c.channel == _PROBE_KEYS.c.channel,
                CONTACTS.c.channel_ref == _PROBE_KEYS.c.ref,
            ),
        )
    )
    .exists()
)
_RECENT = (
    select(literal(1))
    .select_from(
        CITIZENS.join(_PROBE_PHONES, CITIZENS.c.phone == _PROBE_PHONES.c.phone).join(
            CONTACTS, CONTACTS.c.citizen_id == CITIZENS.c.id
        )
    )
    .where(CONTACTS.c.received_at >= bindparam("probe_since", type_=CONTACTS.c.received_at.type))
    .exists()
)
_NUMBERS = TICKET_NUMBER_SEQUENCES
_TAKE_NUMBERS = (
    update(_NUMBERS)
    .where(
        _NUMBERS.c.day == bindparam("numbers_day"),
        _NUMBERS.c.last == bindparam("numbers_expected"),
        ~_STORED,
        ~_RECENT,
    )
    .values(last=bindparam("numbers_last"))
    .returning(_NUMBERS.c.last)
)
_AT_ONCE = Chain(
    _TAKE_NUMBERS,
    (_upsert_citizen("postgresql"), None),
    (
        RowInsert(TICKETS, TICKETS.c.id, TICKETS.c.number, TICKETS.c.citizen_id),
        Link(0, TICKETS.c.citizen_id, CITIZENS.c.phone, CITIZENS.c.id),
    ),
    (RowInsert(TICKET_EVENTS), Link(1, TICKET_EVENTS.c.ticket_id, TICKETS.c.number, TICKETS.c.id)),
    (
        RowInsert(CONTACTS, CONTACTS.c.id, CONTACTS.c.channel, CONTACTS.c.channel_ref),
        Link(
            1,
            CONTACTS.c.ticket_id,
            TICKETS.c.number,
            TICKETS.c.id,
            copies=((CONTACTS.c.citizen_id, TICKETS.c.citizen_id),),
        ),
    ),
)


def _at_once_possible(ctx: Context, items: list[_Item]) -> bool:
    if len({item.key for item in items}) != len(items):
        return False
    if not all(item.checked.phone is not None and item.checked.phone.e164 for item in items):
        return False
    values = [item.value for item in items]
    return all(hook.quiet_for(values) for hook in ctx.hooks.on_intake)


async def _write_at_once(ctx: Context, items: list[_Item]) -> list[Outcome] | None:
    """``items`` as one statement (see above); None: not written, go the transaction's way."""
    writer = _writer(ctx)
    now = ctx.clock.now()
    day = local_day(now)
    if writer.numbers is None or writer.numbers[0] != day or not _at_once_possible(ctx, items):
        return None
    last = writer.numbers[1]
    prefix = ctx.config.city.ticket_prefix
    numbers = [format_number(prefix, day, last + 1 + n) for n in range(len(items))]
    _, chained = _opening(items, numbers, now)
    phones = [item.checked.phone.e164 or "" for item in items if item.checked.phone]
    rows = [
        list(_citizens_by_phone(items, now).values()),
        [  # the citizen by number (the link's key)
            {**_ticket_row(item, number, phone, now), "history_hash": values["hash"]}
            for item, number, phone, values in zip(items, numbers, phones, chained, strict=True)
        ],
        [{"ticket_id": n, **v} for n, v in zip(numbers, chained, strict=True)],
        [
            _contact_row(item, None, number, now)
            for item, number in zip(items, numbers, strict=True)
        ],
    ]
    follow = [
        (phone, item.value.follow_up_since)
        for item, phone in zip(items, phones, strict=True)
        if item.value.follow_up_since is not None
    ]
    params = {
        "numbers_day": f"{day:%Y%m%d}",
        "numbers_expected": last,
        "numbers_last": last + len(items),
        "probe_channels": [item.value.channel.value for item in items],
        "probe_refs": [item.value.channel_ref for item in items],
        "probe_phones": sorted({phone for phone, _ in follow}),
        "probe_since": min((since for _, since in follow), default=None),
    }
    pairs = list(zip(numbers, (item.value for item in items), strict=True))
    notices = [n for hook in ctx.hooks.on_intake if hook.notices for n in hook.notices(pairs)]
    try:
        taken, (_, tickets, _, contacts) = await ctx.db.alone(_AT_ONCE.run, params, rows, notices)
    except IntegrityError:
        return None  # stored meanwhile by another instance: the transaction's way answers
    if taken is None:
        return None  # (the transaction's way finds the counter again if it moved)
    writer.numbers = (day, int(taken))
    ids = {number: ticket_id for ticket_id, number, _ in tickets}
    contact_ids = {(channel, ref): contact_id for contact_id, channel, ref in contacts}
    return [
        _received(item, number, ids[number], contact_ids[item.key])
        for item, number in zip(items, numbers, strict=True)
    ]


# -- follow-ups ------------------------------------------------------------------------------


async def _attach(ctx: Context, item: _Item) -> IntakeResult | None:
    """Attach a follow-up to its open ticket. None: the ticket is gone or finished."""
    now = ctx.clock.now()
    try:
        async with ctx.db.sessions() as session, session.begin():
            earlier = (await session.run_sync(_existing, {item.key})).get(item.key)
            made = earlier.result() if earlier else None
            if made is not None:
                outcome = _repeat(made, item)
                if isinstance(outcome, DomainError):
                    raise outcome
                return outcome
            loaded = await load_for_update(session, item.value.attach_to or "")
            if loaded is None or Status(loaded.row.status) not in OPEN_STATUSES:
                return None
            (citizen_id,) = await session.run_sync(_citizen_ids, [item], now)
            conn = await session.connection()
            row = _contact_row(item, citizen_id, loaded.row.id, now)
            contact_id = (await conn.execute(_INSERT_CONTACT, row)).scalar_one()
            event = decide(
                loaded.state,
                AttachContact(str(contact_id), item.value.channel.value),
                item.actor,
                now,
            )
            await save_event(ctx, session, loaded, event)
            return IntakeResult(
                contact_id=contact_id,
                ticket_id=loaded.row.id,
                number=loaded.row.number,
                status=loaded.row.status,
                created=True,
                attached=True,
            )
    except IntegrityError:
        found = await find_contact(ctx, *item.key)
        if found is None:
            raise
        outcome = _repeat(found, item)
        if isinstance(outcome, DomainError):
            raise outcome from None
        return outcome
