"""The outbox on the real database: same-transaction queuing, claims with leases, backoff,
dead letters and their retry, in-doubt sends, concurrent workers, delivery reports."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from channels.sms import set_opt_out
from hotline.clock import FixedClock
from hotline.domain.errors import IllegalTransition
from hotline.services.context import Context
from hotline.services.outbox import (
    Message,
    Outgoing,
    SendFailed,
    enqueue,
    get_message,
    list_messages,
    record_delivery,
    retry,
    run_once,
)
from hotline.storage.citizens import Citizen
from hotline.storage.outbox import OutboxMessage
from tests.integration.channels.support import CITIZEN, FakeSender


async def queue(ctx: Context, *messages: Outgoing) -> None:
    async with ctx.db.sessions() as session, session.begin():
        await enqueue(session, list(messages), ctx.clock.now())


def sms(key: str, body: str = "【安阳12345】测试", to: str = CITIZEN, **kw: object) -> Outgoing:
    return Outgoing(kind="sms", key=key, recipient=to, body=body, purpose="test", **kw)  # type: ignore[arg-type]


async def rows(ctx: Context) -> list[OutboxMessage]:
    async with ctx.db.sessions() as session:
        return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


async def test_queuing_is_idempotent_and_transactional(ctx: Context) -> None:
    await queue(ctx, sms("k1"), sms("k1", body="其他"), sms("k2"))
    with pytest.raises(RuntimeError):
        async with ctx.db.sessions() as session, session.begin():
            await enqueue(session, [sms("k3")], ctx.clock.now())
            raise RuntimeError("the change failed: its message goes with it")
    found = await rows(ctx)
    assert [(r.key, r.body, r.status) for r in found] == [
        ("k1", "【安阳12345】测试", "pending"),
        ("k2", "【安阳12345】测试", "pending"),
    ]


async def test_sends_due_messages_once(ctx: Context) -> None:
    await queue(ctx, sms("a"), sms("b"))
    sender = FakeSender()
    report = await run_once(ctx, {"sms": sender})
    assert (report.claimed, report.sent) == (2, 2)
    again = await run_once(ctx, {"sms": sender})
    assert again.claimed == 0
    assert sorted(m.key for m in sender.sent) == ["a", "b"]
    assert {r.status for r in await rows(ctx)} == {"sent"}
    assert all(r.provider_ref and r.sent_at for r in await rows(ctx))


async def test_kinds_without_a_sender_wait(ctx: Context) -> None:
    await queue(ctx, sms("a"), Outgoing("wechat", "w", "openid", "你好", "test"))
    report = await run_once(ctx, {"sms": FakeSender()})
    assert report.sent == 1
    waiting = [r for r in await rows(ctx) if r.kind == "wechat"]
    assert waiting[0].status == "pending" and waiting[0].attempts == 0


async def test_backoff_then_success(ctx: Context, clock: FixedClock) -> None:
    await queue(ctx, sms("a"))
    sender = FakeSender(failures=[SendFailed("503 暂时不可用"), SendFailed("503 暂时不可用")])
    first = await run_once(ctx, {"sms": sender})
    assert first.retrying == 1
    (row,) = await rows(ctx)
    wait1 = row.next_attempt_at - clock.now()
    assert timedelta(seconds=30) <= wait1 <= timedelta(seconds=36)
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "503 暂时不可用")
    assert (await run_once(ctx, {"sms": sender})).claimed == 0  # not due yet
    clock.advance(wait1)
    await run_once(ctx, {"sms": sender})
    (row,) = await rows(ctx)
    assert row.next_attempt_at - clock.now() >= timedelta(seconds=60)  # doubled
    clock.advance(timedelta(minutes=5))
    assert (await run_once(ctx, {"sms": sender})).sent == 1
    (row,) = await rows(ctx)
    assert (row.status, row.attempts, len(row.errors)) == ("sent", 3, 2)


async def test_dead_letter_after_max_attempts_then_retry(ctx: Context, clock: FixedClock) -> None:
    await queue(ctx, sms("a"))
    sender = FakeSender(failures=[SendFailed("网络错误") for _ in range(8)])
    for _ in range(8):
        await run_once(ctx, {"sms": sender})
        clock.advance(timedelta(hours=2))
    (row,) = await rows(ctx)
    assert (row.status, row.attempts) == ("dead", 8)
    assert row.dead_at is not None
    dead = await list_messages(ctx, status="dead")
    assert [v.row.key for v in dead.items] == ["a"]
    assert (await run_once(ctx, {"sms": sender})).claimed == 0  # dead letters stay put
    view = await retry(ctx, row.id, "agent:zhang")
    assert (view.row.status, view.row.attempts) == ("pending", 0)
    assert (await run_once(ctx, {"sms": sender})).sent == 1
    with pytest.raises(IllegalTransition):
        await retry(ctx, row.id, "agent:zhang")


async def test_permanent_failure_is_dead_at_once(ctx: Context) -> None:
    await queue(ctx, sms("a"))
    sender = FakeSender(failures=[SendFailed("Twilio 400 错误 21211", permanent=True)])
    report = await run_once(ctx, {"sms": sender})
    assert report.dead == 1
    (row,) = await rows(ctx)
    assert (row.status, row.attempts, row.last_error) == ("dead", 1, "Twilio 400 错误 21211")


async def test_a_worker_that_dies_between_claim_and_send_loses_nothing(
    ctx: Context, clock: FixedClock
) -> None:
    await queue(ctx, sms("a"), sms("b"))
    sender = FakeSender()

    class Died(Exception):
        pass

    async def die(claimed: Sequence[Message]) -> None:
        assert len(claimed) == 2
        raise Died

    with pytest.raises(Died):
        await run_once(ctx, {"sms": sender}, worker="w1", on_claimed=die)
    assert sender.sent == []
    assert {r.status for r in await rows(ctx)} == {"sending"}
    # another worker finds nothing while the lease holds, then takes them over
    assert (await run_once(ctx, {"sms": sender}, worker="w2")).claimed == 0
    clock.advance(timedelta(seconds=ctx.config.channels.outbox.lease_seconds))
    report = await run_once(ctx, {"sms": sender}, worker="w2")
    assert (report.claimed, report.sent, report.reconciled) == (2, 2, 0)
    assert sorted(m.key for m in sender.sent) == ["a", "b"]
    assert sender.lookups == 0


class CrashAfterSend(FakeSender):
    """Sends, then the process dies before the outcome is recorded."""

    async def send(self, message: Message) -> str | None:
        await super().send(message)
        raise asyncio.CancelledError  # like a kill: nothing after this runs


@pytest.mark.parametrize(
    ("policy", "sends", "status"),
    [("lookup", 1, "sent"), ("resend", 2, "sent"), ("hold", 1, "dead")],
)
async def test_a_send_in_doubt_follows_its_senders_policy(
    ctx: Context, clock: FixedClock, policy: str, sends: int, status: str
) -> None:
    await queue(ctx, sms("a"))
    crashing = CrashAfterSend(in_doubt=policy)  # type: ignore[arg-type]
    with pytest.raises(asyncio.CancelledError):
        await run_once(ctx, {"sms": crashing}, worker="w1")
    (row,) = await rows(ctx)
    assert row.status == "sending" and row.started_at is not None
    clock.advance(timedelta(seconds=ctx.config.channels.outbox.lease_seconds + 1))
    after = FakeSender(in_doubt=policy, carrier=dict(crashing.carrier))  # type: ignore[arg-type]
    await run_once(ctx, {"sms": after}, worker="w2")
    (row,) = await rows(ctx)
    assert row.status == status
    assert len(crashing.sent) + len(after.sent) == sends
    if policy == "lookup":
        assert row.provider_ref == crashing.carrier["a"]
    if policy == "hold":
        assert "人工核实" in (row.last_error or "")
        await retry(ctx, row.id, "agent:li")  # a person checked: send it
        await run_once(ctx, {"sms": after})
        assert len(after.sent) == 1


async def test_concurrent_workers_send_each_message_once(ctx: Context) -> None:
    await queue(ctx, *(sms(f"m{i}") for i in range(30)))
    sender = FakeSender()
    reports = await asyncio.gather(*(run_once(ctx, {"sms": sender}) for _ in range(4)))
    assert sum(r.sent for r in reports) == 30
    assert sorted(m.key for m in sender.sent) == sorted(f"m{i}" for i in range(30))


async def test_opted_out_citizens_get_no_notification(ctx: Context) -> None:
    async with ctx.db.sessions() as session, session.begin():
        citizen = Citizen(phone=CITIZEN, created_at=ctx.clock.now(), updated_at=ctx.clock.now())
        session.add(citizen)
        await session.flush()
        await enqueue(session, [sms("a", citizen_id=citizen.id)], ctx.clock.now())
    await set_opt_out(ctx, CITIZEN, opted_out=True)
    sender = FakeSender()
    report = await run_once(ctx, {"sms": sender})
    assert (report.claimed, sender.sent) == (0, [])
    (row,) = await rows(ctx)
    assert row.status == "cancelled"


async def test_delivery_reports_never_move_backwards(ctx: Context) -> None:
    await queue(ctx, sms("a"))
    await run_once(ctx, {"sms": FakeSender()})
    (row,) = await rows(ctx)
    ref = row.provider_ref or ""
    for status, rank in [("delivered", 4), ("sent", 3), ("queued", 1), ("delivered", 4)]:
        await record_delivery(ctx, message_id=None, provider_ref=ref, status=status, rank=rank)
    view = await get_message(ctx, row.id)
    assert (view.row.delivery_status, view.row.delivery_rank) == ("delivered", 4)
    # a report that beats the worker's own record still finds the message by its id
    await queue(ctx, sms("b"))
    async with ctx.db.sessions() as session:
        b = await session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == "b"))
    assert await record_delivery(ctx, message_id=b, provider_ref="SMX", status="sent", rank=3)
    view = await get_message(ctx, b or 0)
    assert (view.row.provider_ref, view.row.delivery_status) == ("SMX", "sent")
    async with ctx.db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 2
