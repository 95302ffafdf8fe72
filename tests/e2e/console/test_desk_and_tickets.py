"""The desk's screen pop, optimistic locking, dispatch with the engine's suggestion, the
department desk and the supervisor's numbers, through HTTP and the console's services."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from dispatch.service import dispatch_to
from hotline.clock import FixedClock
from hotline.domain.lifecycle import SYSTEM, Close, Reply, Sign
from hotline.services import console
from hotline.services.tickets import perform
from hotline.storage.calls import Call
from hotline.storage.tickets import Ticket, TicketEvent
from hotline.web.keys import CONTEXT
from ivr import calls
from tests.e2e.console.support import Client, sign_in
from tests.factories import dept

ADMIN = {"Authorization": "Bearer test-admin-token"}
CALLER = "+8613812345678"


async def create(client: Client, content: str, **extra: object) -> dict[str, object]:
    response = await client.post(
        "/api/v1/tickets", json={"type": "投诉", "content": content, **extra}, headers=ADMIN
    )
    assert response.status == 201, await response.text()
    body: dict[str, object] = await response.json()
    return body


async def test_the_screen_pop_shows_the_callers_open_and_past_tickets(client: Client) -> None:
    ctx = client.app[CONTEXT]
    old = await create(client, "殷都区水冶镇路灯不亮", phone=CALLER)
    await dispatch_to(ctx, str(old["number"]), "CGJ", SYSTEM)
    await perform(ctx, str(old["number"]), Sign("CGJ"), dept("CGJ"))
    await perform(ctx, str(old["number"]), Reply("CGJ", "已修复", True), dept("CGJ"))
    await perform(ctx, str(old["number"]), Close(), SYSTEM)
    still = await create(client, "文峰区东关街道停水三天了", phone=CALLER)
    await calls.call_arrived(ctx, "CA-pop-1", CALLER, "+863722012345")
    await sign_in(client, "agent1")
    response = await client.get("/console/desk/caller?call=CA-pop-1")
    assert response.status == 200
    html = await response.text()
    assert CALLER in html
    opened, past = html.split('id="caller-past"')
    assert str(still["number"]) in opened and str(old["number"]) not in opened
    assert str(old["number"]) in past
    assert "近30天来电 1 次" in html
    by_phone = await client.get("/console/desk/caller?phone=13812345678")
    assert str(still["number"]) in await by_phone.text()
    unknown = await client.get("/console/desk/caller?call=CA-nobody")
    assert unknown.status == 200 and "无在办工单" in await unknown.text()


async def test_two_agents_editing_one_ticket_get_a_clear_conflict(
    client: Client, other: Client
) -> None:
    number = (await create(client, "北关区洹北街道路灯一周不亮"))["number"]
    first = await sign_in(client, "agent1")
    second = await sign_in(other, "agent2")
    saved = await client.post(
        f"/console/api/tickets/{number}/amend",
        json={"category": "municipal", "expected_version": 1},
        headers={"X-CSRF-Token": first},
    )
    assert saved.status == 200, await saved.text()
    assert (await saved.json())["version"] == 2
    stale = await other.post(
        f"/console/api/tickets/{number}/amend",
        json={"category": "water", "expected_version": 1},
        headers={"X-CSRF-Token": second},
    )
    assert stale.status == 409
    error = (await stale.json())["error"]
    assert error["code"] == "version_conflict"
    assert "agent1" in error["message"] and "修改工单" in error["message"]
    assert "第 1 版" in error["message"] and "第 2 版" in error["message"]
    stale_dispatch = await other.post(
        f"/console/api/tickets/{number}/dispatch",
        json={"department": "GSGS", "expected_version": 1},
        headers={"X-CSRF-Token": second},
    )
    assert stale_dispatch.status == 409
    async with client.app[CONTEXT].db.sessions() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
    assert ticket is not None and ticket.category_code == "municipal"  # nothing overwritten
    fresh = await other.post(
        f"/console/api/tickets/{number}/dispatch",
        json={"department": "CGJ", "expected_version": 2},
        headers={"X-CSRF-Token": second},
    )
    assert fresh.status == 200
    assert (await fresh.json())["status"] == "dispatched"


async def test_dispatch_records_whether_the_suggestion_was_accepted(client: Client) -> None:
    token = await sign_in(client, "agent1")
    accepted = (await create(client, "文峰区东关街道停水三天了，自来水一直没来"))["number"]
    overridden = (await create(client, "文峰区东关街道停水三天了，水压很低"))["number"]
    triage = await client.get("/console/triage")
    html = await triage.text()
    assert f'data-number="{accepted}"' in html and 'data-suggested="GSGS"' in html
    for number, department in ((accepted, "GSGS"), (overridden, "GOV-410502")):
        response = await client.post(
            f"/console/api/tickets/{number}/dispatch",
            json={"department": department, "expected_version": 1},
            headers={"X-CSRF-Token": token},
        )
        assert response.status == 200, await response.text()
    async with client.app[CONTEXT].db.sessions() as session:
        rules = {
            number: data["rule"]
            for number, data in await session.execute(
                select(Ticket.number, TicketEvent.data)
                .join(TicketEvent, TicketEvent.ticket_id == Ticket.id)
                .where(TicketEvent.action == "dispatched")
            )
        }
    assert rules[accepted].endswith(" accepted")
    assert rules[overridden] == "manual (override of GSGS)"
    bad = await client.post(
        f"/console/api/tickets/{accepted}/dispatch",
        json={"department": "GSGS"},
        headers={"X-CSRF-Token": token},
    )
    assert bad.status == 422
    assert (await bad.json())["error"]["message"].startswith("expected_version")


async def test_a_department_user_works_through_the_same_api_rules(
    client: Client, other: Client
) -> None:
    number = (await create(client, "文峰区东关街道停水三天了"))["number"]
    await dispatch_to(client.app[CONTEXT], str(number), "GSGS", SYSTEM)
    water = await sign_in(client, "gsgs")
    city = await sign_in(other, "cgj")
    desk = await client.get("/console/department")
    assert str(number) in await desk.text()
    page = await client.get(f"/console/tickets/{number}")
    assert page.status == 200 and 'id="sign-button"' in await page.text()
    assert (await other.get(f"/console/tickets/{number}")).status == 404
    refused = await other.post(
        f"/api/v1/tickets/{number}/sign", headers={"X-CSRF-Token": city}, json={}
    )
    assert refused.status == 404
    signed = await client.post(
        f"/api/v1/tickets/{number}/sign", headers={"X-CSRF-Token": water}, json={}
    )
    assert signed.status == 200
    assert (await signed.json())["status"] == "signed"
    replied = await client.post(
        f"/api/v1/tickets/{number}/reply",
        json={"content": "已抢修恢复供水", "contacted_citizen": True},
        headers={"X-CSRF-Token": water},
    )
    assert replied.status == 200
    assert (await replied.json())["status"] == "replied"
    late = await client.post(
        f"/api/v1/tickets/{number}/return",
        json={"reason": "不归我们"},
        headers={"X-CSRF-Token": water},
    )
    assert late.status == 409


async def test_the_wallboard_counts_calls_agents_and_clocks(
    client: Client, clock: FixedClock
) -> None:
    ctx = client.app[CONTEXT]
    now = clock.now()
    # calls: one answered in 10 s, one in 40 s, one abandoned, one waiting for 30 s
    for sid, wait, abandoned in (("CA-w1", 10, False), ("CA-w2", 40, False), ("CA-w3", 0, True)):
        await calls.call_arrived(ctx, sid, CALLER, "+863722012345")
        async with ctx.db.sessions() as session, session.begin():
            call = await session.get(Call, sid)
            assert call is not None
            call.queued_at = now - timedelta(seconds=wait)
            call.wait_seconds = float(wait) if not abandoned else None
            call.answered_at = None if abandoned else now
            call.abandoned = abandoned
            call.stage = "ended"
    await calls.call_arrived(ctx, "CA-w4", CALLER, "+863722012345")
    clock.advance(timedelta(seconds=-30))
    await calls.enqueue(ctx, "CA-w4")
    clock.advance(timedelta(seconds=30))
    # tickets: one overdue, one due within the day, one waiting for dispatch
    late = str((await create(client, "北关区路灯不亮"))["number"])
    soon = str((await create(client, "文峰区停水"))["number"])
    await create(client, "咨询公积金")
    clock.advance(timedelta(days=-10))
    await dispatch_to(ctx, late, "CGJ", SYSTEM)
    clock.advance(timedelta(days=10))
    await dispatch_to(ctx, soon, "GSGS", SYSTEM)
    async with ctx.db.sessions() as session, session.begin():
        ticket = await session.scalar(select(Ticket).where(Ticket.number == soon))
        assert ticket is not None
        ticket.due_at = now + timedelta(hours=3)
    board = await console.wallboard(ctx)
    assert board.calls_waiting == 1
    assert board.longest_wait_seconds == 30
    assert (board.answered_today, board.answered_in_target_today) == (2, 1)
    assert board.answer_rate == 0.5
    assert board.abandoned_today == 1
    assert board.awaiting_dispatch == 1
    assert (board.overdue, board.near_due, board.due_today) == (1, 1, 1)
    units = {u.department: u for u in board.units}
    assert units["CGJ"].overdue == 1 and units["GSGS"].overdue == 0
    await sign_in(client, "supervisor1")
    page = await client.get("/console/wallboard")
    html = await page.text()
    assert 'id="wb-rate">50.0%' in html
    assert 'id="wb-waiting">1<' in html


async def test_the_triage_queue_puts_urgent_tickets_first(client: Client) -> None:
    first = (await create(client, "咨询社保卡补办"))["number"]
    urgent = (await create(client, "小区门口燃气管道有异味", urgency="urgent"))["number"]
    items, total = await console.triage_queue(client.app[CONTEXT])
    assert total == 2
    assert [i.line.number for i in items] == [urgent, first]


async def test_duplicates_of_one_citizen_are_offered_for_merging(client: Client) -> None:
    first = (await create(client, "文峰区东关街道停水三天了", phone=CALLER))["number"]
    again = (await create(client, "东关街道还是停水，已经三天了", phone=CALLER))["number"]
    await create(client, "咨询公积金提取", phone="+8613900000000")
    found = await console.duplicate_candidates(client.app[CONTEXT])
    assert [(d.source.number, d.target.number, d.same_citizen) for d in found] == [
        (again, first, True)
    ]
    token = await sign_in(client, "supervisor1")
    page = await client.get("/console/duplicates")
    assert f"并入 {first}" in await page.text()
    merged = await client.post(
        f"/api/v1/tickets/{again}/merge", json={"into": first}, headers={"X-CSRF-Token": token}
    )
    assert merged.status == 200
    assert (await merged.json())["status"] == "merged"
