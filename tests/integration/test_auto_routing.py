"""Text contacts are routed as they arrive: dispatched when sure, otherwise triaged."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.auto import auto_route, route_received
from hotline.domain.intake import IntakeValue
from hotline.domain.vocabulary import Channel
from hotline.services.context import Context
from hotline.services.hooks import TicketChange
from hotline.services.intake import take_in
from hotline.services.queries import get_ticket


async def sms(ctx: Context, ref: str, text: str) -> str:
    made = await take_in(
        ctx,
        IntakeValue(
            channel=Channel.SMS,
            channel_ref=ref,
            received_at=ctx.clock.now(),
            content=text,
            phone="13812345678",
        ),
    )
    return made.number


async def test_sure_tickets_are_dispatched_and_others_triaged(ctx: Context) -> None:
    sure = await sms(ctx, "a", "文峰区东关街道我们小区停水两天了，一直没人来修")
    fire = await sms(ctx, "b", "楼道里好大一股煤气味，好像是燃气泄漏了，快来人")
    away = await sms(ctx, "c", "郑州金水区的小区物业乱收费，你们管不管")
    vague = await sms(ctx, "d", "我有个事情想反映一下")
    routed = {r.number: r.outcome for r in await route_received(ctx)}
    assert routed == {sure: "dispatched", fire: "emergency", away: "out_of_scope", vague: "triage"}
    view = await get_ticket(ctx, sure)
    assert view.ticket.status == "dispatched"
    assert (view.ticket.category_code, view.ticket.division_code) == ("water", "410502")
    assert view.assignments[0].department_code == "GSGS"
    dispatched = next(e for e in view.events if e.action == "dispatched")
    assert dispatched.data["rule"].startswith("default:water@tax-")
    emergency = await get_ticket(ctx, fire)
    assert emergency.ticket.status == "awaiting_dispatch"
    assert emergency.ticket.urgency == "urgent"
    assert emergency.assignments == []  # an emergency is never dispatched
    assert await route_received(ctx) == []  # each ticket is routed once


async def test_a_ticket_is_routed_as_a_whole_or_not_at_all(ctx: Context) -> None:
    """The engine's steps (amend, then triage or dispatch) commit together: if a later step
    fails, the ticket is still as it arrived, and the next sweep routes it."""
    vague = await sms(ctx, "e", "文峰区我有个事情想反映一下")

    async def refuse_triage(session: AsyncSession, change: TicketChange) -> None:
        if change.event.action == "triaged":
            raise RuntimeError("the triage step failed")

    ctx.hooks.on_event.append(refuse_triage)
    with pytest.raises(RuntimeError, match="triage step"):
        await auto_route(ctx, vague)
    view = await get_ticket(ctx, vague)
    assert view.ticket.status == "received"
    assert view.ticket.division_code is None  # the amend went with the failed triage
    assert [e.action for e in view.events] == ["received"]

    ctx.hooks.on_event.remove(refuse_triage)
    assert [r.outcome for r in await route_received(ctx)] == ["triage"]
    view = await get_ticket(ctx, vague)
    assert view.ticket.status == "awaiting_dispatch"
    assert view.ticket.division_code == "410502"
