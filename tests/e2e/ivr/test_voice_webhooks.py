"""The IVR through its webhooks, played the way Twilio plays it: signed requests, TwiML parsed
as XML, ``action`` URLs followed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from dispatch.service import dispatch_to
from hotline.clock import FixedClock
from hotline.domain.intake import IntakeValue
from hotline.domain.lifecycle import SYSTEM
from hotline.domain.vocabulary import Channel, TicketType
from hotline.services.context import Context
from hotline.services.intake import take_in
from hotline.services.queries import get_ticket
from hotline.storage.calls import Call
from hotline.storage.citizens import Citizen
from hotline.storage.tickets import Ticket
from hotline.web.keys import METRICS
from ivr import calls
from ivr.runner import ACD
from tests.e2e.ivr.conftest import EMERGENCY, FALLBACK
from tests.fakes import FakeVoiceGateway
from tests.twilio_player import PUBLIC_URL, TwilioPlayer, call_form

AUTH = {"Authorization": "Bearer test-admin-token"}


async def the_call(ctx: Context, sid: str) -> Call:
    call, _ = await calls.get_call(ctx, sid)
    return call


# -- signatures --------------------------------------------------------------------------------


async def test_missing_or_forged_signatures_are_refused(player: TwilioPlayer) -> None:
    form = call_form("CA1")
    assert (await player.post("/twilio/voice", form, sign=False)).status == 403
    assert (await player.post("/twilio/voice", form, signature="Zm9yZ2Vk")).status == 403
    # signed for another URL (the query is part of what is signed)
    other = player.validator.compute_signature(PUBLIC_URL + "/twilio/voice?x=1", form)
    assert (await player.post("/twilio/voice", form, signature=other)).status == 403
    # a changed field breaks the signature
    signed = player.validator.compute_signature(PUBLIC_URL + "/twilio/voice", form)
    tampered = {**form, "From": "+8613900000000"}
    assert (await player.post("/twilio/voice", tampered, signature=signed)).status == 403
    for path in ("/twilio/voice/status", "/twilio/voice/menu", "/twilio/voice/wait"):
        assert (await player.post(path, form, sign=False)).status == 403


# -- greeting and menu -------------------------------------------------------------------------


async def test_greeting_is_mandarin_with_a_short_menu(player: TwilioPlayer) -> None:
    reply = await player.post("/twilio/voice", call_form("CA-greet"))
    assert reply.status == 200
    assert reply.verbs() == ["Gather", "Redirect"]
    gather = reply.first("Gather")
    assert gather.get("input") == "dtmf speech"
    assert gather.get("language") == "cmn-Hans-CN"
    assert gather.get("action") == f"{PUBLIC_URL}/twilio/voice/menu"
    assert gather.get("numDigits") == "1"
    assert int(gather.get("timeout", "99")) <= 5  # a human within 15 seconds
    assert "报警" in (gather.get("hints") or "")
    says = gather.findall("Say")
    assert says and all(s.get("language") == "cmn-CN" for s in says)
    assert all(s.get("voice") == "Polly.Zhiyu" for s in says)
    assert "录音" in (says[0].text or "")  # the recording notice
    assert "报警请按1" in (says[1].text or "")
    assert reply.first("Redirect").text == f"{PUBLIC_URL}/twilio/voice/queue"


async def test_repeated_deliveries_change_nothing(
    player: TwilioPlayer, app_ctx: Context, voice_app: TestClient[Any, web.Application]
) -> None:
    form = call_form("CA-dup")
    first = await player.post("/twilio/voice", form)
    again = await player.post("/twilio/voice", form)
    assert first.text == again.text
    async with app_ctx.db.sessions() as session:
        assert len(list(await session.scalars(select(Call)))) == 1
    metrics = voice_app.app[METRICS]
    assert metrics.calls_offered._value.get() == 1
    menu = call_form("CA-dup", Digits="9")
    assert (await player.post("/twilio/voice/menu", menu)).text == (
        await player.post("/twilio/voice/menu", menu)
    ).text


# -- one-key emergency transfer from the menu --------------------------------------------------


async def test_key_1_dials_110_and_records_the_answer(
    player: TwilioPlayer, app_ctx: Context
) -> None:
    await player.post("/twilio/voice", call_form("CA-110"))
    reply = await player.post("/twilio/voice/menu", call_form("CA-110", Digits="1"))
    dial = reply.first("Dial")
    assert reply.verbs() == ["Say", "Dial"]
    assert dial.get("timeout") == "20"
    number = dial.find("Number")
    assert number is not None and number.text == EMERGENCY["110"]
    action = dial.get("action")
    assert action is not None and action.startswith(f"{PUBLIC_URL}/twilio/voice/emergency-result")
    call = await the_call(app_ctx, "CA-110")
    assert call.stage == "emergency" and call.ticket_id is not None
    done = await player.post(action, call_form("CA-110", DialCallStatus="completed"))
    assert done.verbs() == ["Hangup"]
    _, attempts = await calls.get_call(app_ctx, "CA-110")
    assert [(a.target, a.result, a.via) for a in attempts] == [("110", "answered", "menu")]
    async with app_ctx.db.sessions() as session:
        number_ = await session.scalar(select(Ticket.number).where(Ticket.id == call.ticket_id))
    assert number_ is not None
    view = await get_ticket(app_ctx, number_)
    assert view.ticket.status == "transferred"
    assert view.ticket.urgency == "urgent"
    assert view.events[-1].data["target"] == "110"
    # Twilio retries the action: nothing changes
    again = await player.post(action, call_form("CA-110", DialCallStatus="completed"))
    assert again.text == done.text
    assert len((await get_ticket(app_ctx, number_)).events) == len(view.events)


async def test_failed_transfer_tries_the_fallback_then_an_agent_first(
    player: TwilioPlayer, app_ctx: Context, fake_gateway: FakeVoiceGateway
) -> None:
    await player.post("/twilio/voice", call_form("CA-120"))
    reply = await player.post("/twilio/voice/menu", call_form("CA-120", Digits="3"))
    first = reply.first("Dial").get("action") or ""
    busy = await player.post(first, call_form("CA-120", DialCallStatus="busy"))
    fallback = busy.first("Dial")
    number = fallback.find("Number")
    assert number is not None and number.text == FALLBACK["120"]
    gone = await player.post(
        fallback.get("action") or "", call_form("CA-120", DialCallStatus="no-answer")
    )
    assert gone.verbs() == ["Say", "Redirect"]
    assert "120" in (gone.first("Say").text or "")
    call = await the_call(app_ctx, "CA-120")
    assert call.stage == "queued"
    assert "emergency_transfer_failed" in call.priority_reasons
    _, attempts = await calls.get_call(app_ctx, "CA-120")
    assert [(a.number, a.result) for a in attempts] == [
        (EMERGENCY["120"], "busy"),
        (FALLBACK["120"], "no-answer"),
    ]
    async with app_ctx.db.sessions() as session:
        number_ = await session.scalar(select(Ticket.number).where(Ticket.id == call.ticket_id))
    assert number_ is not None
    view = await get_ticket(app_ctx, number_)
    assert [e.data.get("result") for e in view.events if e.action == "noted"] == [
        "busy",
        "no-answer",
    ]
    assert view.ticket.status == "received"  # still the centre's: an agent takes it


async def test_spoken_words_choose_too(player: TwilioPlayer) -> None:
    await player.post("/twilio/voice", call_form("CA-speech"))
    reply = await player.post(
        "/twilio/voice/menu", call_form("CA-speech", SpeechResult="我家楼下着火了")
    )
    number = reply.first("Dial/Number")
    assert number.text == EMERGENCY["119"]


async def test_unknown_key_goes_to_the_queue(player: TwilioPlayer) -> None:
    await player.post("/twilio/voice", call_form("CA-7"))
    reply = await player.post("/twilio/voice/menu", call_form("CA-7", Digits="7"))
    assert reply.verbs() == ["Enqueue"]


# -- progress query ----------------------------------------------------------------------------


async def test_progress_query_reads_status_and_due_date(
    player: TwilioPlayer, app_ctx: Context
) -> None:
    made = await take_in(
        app_ctx,
        IntakeValue(
            channel=Channel.SMS,
            channel_ref="SM-q",
            received_at=app_ctx.clock.now(),
            content="路灯不亮",
            type=TicketType.COMPLAINT,
            category="municipal",
        ),
    )
    await dispatch_to(app_ctx, made.number, "CGJ", SYSTEM)
    await player.post("/twilio/voice", call_form("CA-q"))
    prompt = await player.post("/twilio/voice/menu", call_form("CA-q", Digits="9"))
    gather = prompt.first("Gather")
    assert gather.get("finishOnKey") == "#"
    digits = "".join(ch for ch in made.number if ch.isdigit())
    result = await player.post(gather.get("action") or "", call_form("CA-q", Digits=digits))
    said = result.first("Say").text or ""
    assert "已派单" in said and "12月3日" in said
    assert result.verbs() == ["Say", "Hangup"]


async def test_progress_query_gives_up_after_three_tries(player: TwilioPlayer) -> None:
    await player.post("/twilio/voice", call_form("CA-bad"))
    reply = await player.post("/twilio/voice/menu", call_form("CA-bad", Digits="9"))
    for attempt in (1, 2):
        action = reply.first("Gather").get("action") or ""
        assert action.endswith(f"attempt={attempt}")
        reply = await player.post(action, call_form("CA-bad", Digits="20261126999999"))
        assert "没有查到" in (reply.first("Gather/Say").text or "")
    action = reply.first("Gather").get("action") or ""
    last = await player.post(action, call_form("CA-bad", Digits="123"))
    assert last.verbs() == ["Say", "Redirect"]
    assert last.first("Redirect").text == f"{PUBLIC_URL}/twilio/voice/queue"


# -- the queue, overflow, voicemail and call back ---------------------------------------------


async def test_queue_states_the_position_and_offers_overflow(
    player: TwilioPlayer, app_ctx: Context
) -> None:
    for sid, phone in (("CA-a", "+8613911110001"), ("CA-b", "+8613911110002")):
        await player.post("/twilio/voice", call_form(sid, From=phone))
        queued = await player.post("/twilio/voice/queue", call_form(sid, From=phone))
        enqueue = queued.first("Enqueue")
        assert enqueue.text == "hotline"
        assert enqueue.get("waitUrl") == f"{PUBLIC_URL}/twilio/voice/wait"
        assert enqueue.get("action") == f"{PUBLIC_URL}/twilio/voice/dequeued"
    wait = await player.post("/twilio/voice/wait", call_form("CA-b", QueueTime="5"))
    assert "前面还有1位" in (wait.first("Say").text or "")
    assert "Gather" not in wait.verbs()
    late = await player.post("/twilio/voice/wait", call_form("CA-b", QueueTime="61"))
    assert "Gather" in late.verbs()
    assert late.first("Gather").get("action") == f"{PUBLIC_URL}/twilio/voice/overflow"


async def test_voicemail_becomes_a_ticket(player: TwilioPlayer, app_ctx: Context) -> None:
    await player.post("/twilio/voice", call_form("CA-vm"))
    await player.post("/twilio/voice/queue", call_form("CA-vm"))
    leave = await player.post("/twilio/voice/overflow", call_form("CA-vm", Digits="1"))
    assert leave.verbs() == ["Leave"]
    record = await player.post("/twilio/voice/dequeued", call_form("CA-vm", QueueResult="leave"))
    assert record.verbs() == ["Say", "Record"]
    rec = record.first("Record")
    assert rec.get("maxLength") == "120"
    url = "https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE1"
    thanks = await player.post(
        rec.get("action") or "",
        call_form("CA-vm", RecordingUrl=url, RecordingSid="RE1", RecordingDuration="17"),
    )
    assert thanks.verbs() == ["Say", "Hangup"]
    call = await the_call(app_ctx, "CA-vm")
    assert call.recording_url == url and call.ticket_id is not None
    async with app_ctx.db.sessions() as session:
        ticket = await session.get(Ticket, call.ticket_id)
    assert ticket is not None and url in ticket.content
    assert "type_missing" in ticket.triage_reasons  # an agent classifies it


async def test_call_back_request_becomes_a_ticket(player: TwilioPlayer, app_ctx: Context) -> None:
    await player.post("/twilio/voice", call_form("CA-cb"))
    await player.post("/twilio/voice/queue", call_form("CA-cb"))
    await player.post("/twilio/voice/overflow", call_form("CA-cb", Digits="2"))
    bye = await player.post("/twilio/voice/dequeued", call_form("CA-cb", QueueResult="leave"))
    assert bye.verbs() == ["Say", "Hangup"]
    call = await the_call(app_ctx, "CA-cb")
    assert call.ticket_id is not None
    async with app_ctx.db.sessions() as session:
        ticket = await session.get(Ticket, call.ticket_id)
    assert ticket is not None and "回电" in ticket.content


async def test_a_caller_who_hangs_up_in_the_queue_is_abandoned(
    player: TwilioPlayer,
    app_ctx: Context,
    voice_app: TestClient[Any, web.Application],
    clock: FixedClock,
) -> None:
    await player.post("/twilio/voice", call_form("CA-gone"))
    await player.post("/twilio/voice/queue", call_form("CA-gone"))
    clock.advance(timedelta(seconds=40))
    await player.post("/twilio/voice/dequeued", call_form("CA-gone", QueueResult="hangup"))
    await player.post("/twilio/voice/status", call_form("CA-gone", CallStatus="completed"))
    call = await the_call(app_ctx, "CA-gone")
    assert call.abandoned and call.wait_seconds == 40
    assert call.stage == "ended"
    assert voice_app.app[METRICS].calls_abandoned._value.get() == 1


# -- agents and the ACD ------------------------------------------------------------------------


async def _agent_available(client: TestClient[Any, web.Application], name: str) -> None:
    response = await client.put(
        f"/api/v1/agents/{name}/state",
        json={"state": "available", "client_identity": f"agent-{name}"},
        headers=AUTH,
    )
    assert response.status == 200, await response.text()


async def test_acd_connects_the_longest_idle_agent(
    player: TwilioPlayer,
    app_ctx: Context,
    voice_app: TestClient[Any, web.Application],
    fake_gateway: FakeVoiceGateway,
    clock: FixedClock,
) -> None:
    await _agent_available(voice_app, "agent2")
    clock.advance(timedelta(seconds=30))
    await _agent_available(voice_app, "agent1")
    await player.post("/twilio/voice", call_form("CA-acd"))
    await player.post("/twilio/voice/queue", call_form("CA-acd"))
    await voice_app.app[ACD].drain()
    assert len(fake_gateway.redirects) == 1
    sid, url = fake_gateway.redirects[0]
    agents = {u.username: u.id for u, _ in await calls.agents(app_ctx)}
    assert sid == "CA-acd"
    assert url == f"{PUBLIC_URL}/twilio/voice/connect?agent={agents['agent2']}"
    connect = await player.post(url, call_form("CA-acd"))
    dial = connect.first("Dial")
    assert dial.get("record") == "record-from-answer-dual"
    assert dial.get("timeout") == "15"
    client = dial.find("Client")
    assert client is not None and client.text == "agent-agent2"
    clock.advance(timedelta(seconds=8))
    leg = client.get("statusCallback") or ""
    await player.post(leg, call_form("CA-leg", CallStatus="in-progress", ParentCallSid="CA-acd"))
    call = await the_call(app_ctx, "CA-acd")
    assert call.stage == "with_agent" and call.agent_leg_sid == "CA-leg"
    assert call.wait_seconds == 8
    answered = voice_app.app[METRICS].calls_answered
    assert answered.labels("yes")._value.get() == 1


async def test_a_missed_agent_sends_the_caller_back_to_the_queue(
    player: TwilioPlayer,
    app_ctx: Context,
    voice_app: TestClient[Any, web.Application],
    fake_gateway: FakeVoiceGateway,
) -> None:
    await _agent_available(voice_app, "agent1")
    await player.post("/twilio/voice", call_form("CA-miss"))
    await player.post("/twilio/voice/queue", call_form("CA-miss"))
    await voice_app.app[ACD].drain()
    _, url = fake_gateway.redirects[0]
    connect = await player.post(url, call_form("CA-miss"))
    action = connect.first("Dial").get("action") or ""
    back = await player.post(action, call_form("CA-miss", DialCallStatus="no-answer"))
    assert back.verbs() == ["Say", "Redirect"]
    assert (await the_call(app_ctx, "CA-miss")).stage == "queued"
    states = {u.username: a.state for u, a in await calls.agents(app_ctx)}
    assert states["agent1"] == "offline"


async def test_priority_for_the_elderly_and_repeat_callers(
    player: TwilioPlayer, app_ctx: Context, clock: FixedClock
) -> None:
    await take_in(
        app_ctx,
        IntakeValue(
            channel=Channel.CONSOLE,
            channel_ref="elder",
            received_at=clock.now(),
            content="咨询",
            type=TicketType.CONSULTATION,
            phone="+8613900000001",
            needs_assistance=True,
        ),
    )
    async with app_ctx.db.sessions() as session:
        elder = await session.scalar(select(Citizen).where(Citizen.phone == "+8613900000001"))
    assert elder is not None and elder.needs_assistance
    await player.post("/twilio/voice", call_form("CA-first", From="+8613900000002"))
    await player.post("/twilio/voice/queue", call_form("CA-first", From="+8613900000002"))
    clock.advance(timedelta(minutes=1))
    await player.post("/twilio/voice/status", call_form("CA-first", CallStatus="completed"))
    # the same caller again within 24 hours, and an elderly caller
    await player.post("/twilio/voice", call_form("CA-plain", From="+8613900000003"))
    await player.post("/twilio/voice/queue", call_form("CA-plain", From="+8613900000003"))
    await player.post("/twilio/voice", call_form("CA-again", From="+8613900000002"))
    await player.post("/twilio/voice/queue", call_form("CA-again", From="+8613900000002"))
    await player.post("/twilio/voice", call_form("CA-elder", From="+8613900000001"))
    await player.post("/twilio/voice/queue", call_form("CA-elder", From="+8613900000001"))
    order = [
        w.call_sid
        for w in sorted(await calls.waiting(app_ctx), key=lambda w: (-w.priority, w.queued_at))
    ]
    assert order == ["CA-elder", "CA-again", "CA-plain"]
    assert (await the_call(app_ctx, "CA-elder")).priority_reasons == ["elderly_or_disabled"]
    assert await calls.ahead_of(app_ctx, "CA-plain") == 2
