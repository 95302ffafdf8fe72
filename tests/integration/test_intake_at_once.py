"""New contacts written as one statement (PostgreSQL), and every way back to the transaction.

On PostgreSQL a batch of new contacts whose hooks only send live events goes as one statement
(``hotline.services.intake._write_at_once``); everything else, and every batch the statement
does not write, goes the transaction's way. The outcomes asserted here hold on both databases;
which way a batch went is asserted where the one statement exists.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import insert, select

from hotline.bootstrap import bootstrap
from hotline.clock import FixedClock
from hotline.config import Settings
from hotline.domain.intake import IntakeValue
from hotline.services import audit, intake
from hotline.services.context import Context
from hotline.services.history import reserve_ticket_numbers
from hotline.services.hooks import IntakeHook
from hotline.services.intake import take_in
from hotline.services.live import open_hub
from hotline.services.queries import get_ticket
from hotline.storage.citizens import Citizen, Contact
from hotline.storage.tickets import Ticket, TicketEvent
from tests.integration.test_intake import count, sms


def phone(n: int) -> str:
    return f"1390000{n:04d}"


def at_once(ctx: Context) -> list[int]:
    """[batches, contacts] written by the one statement so far."""
    return list(intake.batch_counts(ctx)[intake.STATEMENT])


async def first_of_the_day(ctx: Context) -> None:
    """The day's first batch goes the transaction's way (it finds the counter)."""
    await take_in(ctx, sms(ctx, "first", phone=phone(9999)))


async def test_new_contacts_become_tickets_in_one_statement(ctx: Context) -> None:
    await first_of_the_day(ctx)
    assert at_once(ctx) == [0, 0]
    values = [
        sms(ctx, f"SM-{n}", phone=phone(n), text=f"第{n}条路灯不亮", name="王女士" if n else None)
        for n in range(6)
    ]
    results = await asyncio.gather(*(take_in(ctx, v) for v in values))
    assert sorted(r.number for r in results) == [f"AY20261126-{n:06d}" for n in range(2, 8)]
    assert all(r.created and r.status == "received" for r in results)
    if ctx.db.statements_alone:
        assert at_once(ctx)[1] == 6
    for value, result in zip(values, results, strict=True):
        view = await get_ticket(ctx, result.number)
        assert view.ticket.id == result.ticket_id
        assert view.ticket.content == value.content
        assert view.citizen is not None and view.citizen.phone == f"+86{value.phone}"
        assert [e.action for e in view.events] == ["received"]
        async with ctx.db.sessions() as session:
            contact = await session.get(Contact, result.contact_id)
            assert contact is not None
            assert (contact.ticket_id, contact.citizen_id) == (result.ticket_id, view.citizen.id)
            assert (contact.channel, contact.channel_ref) == ("sms", value.channel_ref)
            assert contact.payload["Body"] == value.content
    async with ctx.db.sessions() as session:
        named = await session.scalar(select(Citizen).where(Citizen.phone == f"+86{phone(1)}"))
        assert named is not None and named.name == "王女士"
    checked = await audit.verify(ctx)
    assert checked.broken is None and checked.tickets == 7


async def test_a_counter_moved_by_another_writer_keeps_numbers_without_gaps(ctx: Context) -> None:
    await first_of_the_day(ctx)
    async with ctx.db.sessions() as session, session.begin():  # another instance, say
        _, taken = await reserve_ticket_numbers(session, ctx.clock.now(), 3)
    assert taken == 2
    before = at_once(ctx)
    moved = await take_in(ctx, sms(ctx, "after-move", phone=phone(1)))
    assert moved.number == "AY20261126-000005"
    assert at_once(ctx) == before  # the statement wrote nothing: the transaction's way
    again = await take_in(ctx, sms(ctx, "after-that", phone=phone(2)))
    assert again.number == "AY20261126-000006"
    if ctx.db.statements_alone:
        assert at_once(ctx)[0] == before[0] + 1  # the counter was found again
    assert await count(ctx, Ticket) == 3


async def test_retries_and_twins_are_answered_with_what_was_made(ctx: Context) -> None:
    await first_of_the_day(ctx)
    made = await take_in(ctx, sms(ctx, "SM-r", phone=phone(1)))
    before = at_once(ctx)
    again, other = await asyncio.gather(
        take_in(ctx, sms(ctx, "SM-r", phone=phone(1))),
        take_in(ctx, sms(ctx, "SM-o", phone=phone(2))),
    )
    assert not again.created and again.number == made.number
    assert other.created and other.number == "AY20261126-000003"
    assert at_once(ctx) == before  # a stored contact in the batch: the transaction's way
    assert (await count(ctx, Ticket), await count(ctx, Contact)) == (3, 3)
    assert await count(ctx, TicketEvent) == 3


async def test_a_text_that_may_follow_up_goes_the_transactions_way(ctx: Context) -> None:
    await first_of_the_day(ctx)
    first = await take_in(ctx, sms(ctx, "F-1", phone=phone(1)))
    before = at_once(ctx)
    window = ctx.clock.now() - timedelta(hours=2)
    follow = await take_in(ctx, sms(ctx, "F-2", phone=phone(1), follow_up_since=window))
    assert follow.attached and follow.number == first.number
    assert at_once(ctx) == before
    # a number without recent contacts: a new ticket, and on PostgreSQL by the one statement
    fresh = await take_in(ctx, sms(ctx, "F-3", phone=phone(3), follow_up_since=window))
    assert fresh.created and not fresh.attached
    if ctx.db.statements_alone:
        assert at_once(ctx)[0] == before[0] + 1


async def test_hooks_decide_whether_a_batch_may_go_as_one_statement(ctx: Context) -> None:
    await first_of_the_day(ctx)
    seen: list[str] = []

    def work(_session: object, tickets: object) -> None:
        seen.extend(t.number for t in tickets)  # type: ignore[attr-defined]

    hook = IntakeHook(work, needed=lambda value: value.channel_ref.startswith("needs"))
    ctx.hooks.on_intake.append(hook)
    quiet = await take_in(ctx, sms(ctx, "quiet-1", phone=phone(1)))
    needs = await take_in(ctx, sms(ctx, "needs-1", phone=phone(2)))
    assert needs.number in seen
    if ctx.db.statements_alone:
        assert quiet.number not in seen  # it had nothing to do: the one statement wrote it
    ctx.hooks.on_intake.remove(hook)
    ctx.hooks.on_intake.append(IntakeHook(work))  # needed unknown: always the transaction
    before = at_once(ctx)
    always = await take_in(ctx, sms(ctx, "any-1", phone=phone(3)))
    assert always.number in seen and at_once(ctx) == before


async def test_contacts_without_a_usable_number_go_the_transactions_way(ctx: Context) -> None:
    await first_of_the_day(ctx)
    before = at_once(ctx)
    odd = await take_in(ctx, sms(ctx, "odd", phone="not-a-number"))
    assert odd.created and "phone_unparsed" in odd.triage_reasons
    assert at_once(ctx) == before


async def test_a_new_day_starts_its_numbers_again(ctx: Context, clock: FixedClock) -> None:
    await first_of_the_day(ctx)
    await take_in(ctx, sms(ctx, "day-1", phone=phone(1)))
    clock.advance(timedelta(days=1))
    tomorrow = await take_in(ctx, sms(ctx, "day-2", phone=phone(2)))
    assert tomorrow.number == "AY20261127-000001"


async def test_live_events_of_new_tickets_reach_the_pages(ctx: Context) -> None:
    await first_of_the_day(ctx)
    async with open_hub(ctx) as hub:
        with hub.subscribe() as sub:
            made = await take_in(ctx, sms(ctx, "live-1", phone=phone(1)))
            batch = await asyncio.wait_for(sub.get(), 5)
    assert [(e["number"], e["action"]) for e in batch.events] == [(made.number, "received")]
    if ctx.db.statements_alone:
        assert at_once(ctx)[0] == 1


async def test_a_contact_stored_meanwhile_elsewhere_is_answered_not_doubled(
    ctx: Context,
) -> None:
    """Another instance stores the same message while the statement runs: the statement fails
    on the unique key as a whole (no number taken) and the transaction's way answers."""
    await first_of_the_day(ctx)
    value = sms(ctx, "SM-race", phone=phone(1))
    now = ctx.clock.now()
    async with ctx.db.engine.connect() as other:
        if ctx.db.dialect == "postgresql":  # (SQLite has one writer: nothing can race there)
            stored = await other.execute(
                insert(Contact.__table__)
                .values(
                    channel="sms",
                    channel_ref="SM-race",
                    received_at=now,
                    created_at=now,
                    content=value.content,
                    payload={},
                )
                .returning(Contact.__table__.c.id)
            )
            other_id = stored.scalar_one()
        racing = asyncio.ensure_future(take_in(ctx, value))
        await asyncio.sleep(0.3)
        await other.commit()
    result = await racing
    assert result.created and result.number == "AY20261126-000002"
    if ctx.db.dialect == "postgresql":
        assert result.contact_id == other_id  # the stored contact got its ticket
        assert at_once(ctx) == [0, 0]
    assert (await count(ctx, Contact), await count(ctx, Ticket)) == (2, 2)
    assert await reserve_ticket_numbers_now(ctx) == 3  # no number lost


async def reserve_ticket_numbers_now(ctx: Context) -> int:
    async with ctx.db.sessions() as session, session.begin():
        _, taken = await reserve_ticket_numbers(session, ctx.clock.now())
    return taken


async def test_an_intake_value_with_hook_data_goes_the_transactions_way(ctx: Context) -> None:
    await first_of_the_day(ctx)
    before = at_once(ctx)
    value: IntakeValue = sms(ctx, "hd-1", phone=phone(1), hook_data={"query_code": "AB12CD"})
    made = await take_in(ctx, value)
    assert made.created and at_once(ctx) == before
    async with ctx.db.sessions() as session:
        ticket = await session.get(Ticket, made.ticket_id)
        assert ticket is not None and ticket.query_code_hash is not None


async def test_two_instances_taking_numbers_at_once_leave_no_gap(
    ctx: Context, settings: Settings, clock: FixedClock
) -> None:
    """Two app instances on one database: every contact once, its number unique, and the
    day's numbers without a gap, whichever way each batch went."""
    other = bootstrap(settings, clock=clock)
    try:
        await first_of_the_day(ctx)
        await take_in(other, sms(other, "other-first", phone=phone(9998)))
        for wave in range(3):
            results = await asyncio.gather(
                *(
                    take_in(ctx if n % 2 else other, sms(ctx, f"W{wave}-{n}", phone=phone(n)))
                    for n in range(20)
                )
            )
            assert all(r.created for r in results)
        if ctx.db.statements_alone:  # each wave: one instance's statement wins the counter
            assert at_once(ctx)[0] + at_once(other)[0] >= 1
    finally:
        await other.db.dispose()
    async with ctx.db.sessions() as session:
        numbers = sorted((await session.scalars(select(Ticket.number))).all())
    assert numbers == [f"AY20261126-{n:06d}" for n in range(1, 63)]
    assert await count(ctx, Contact) == 62
    checked = await audit.verify(ctx)
    assert checked.broken is None and checked.tickets == 62
