"""Voice use cases: call records, the queue, agents, emergency transfers, call tickets.

Every function owns its transaction. Twilio retries webhooks, so each one is also safe to
repeat: arrival is an upsert, stage changes check where the call is, attempts are keyed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.domain.errors import Conflict, InvalidField, NotFound
from hotline.domain.intake import IntakeValue
from hotline.domain.lifecycle import Actor, Annotate, TransferEmergency
from hotline.domain.phones import normalise_phone
from hotline.domain.vocabulary import (
    AT_CENTRE,
    ActorKind,
    Channel,
    EmergencyService,
    Status,
    TicketType,
    Urgency,
)
from hotline.services import live
from hotline.services.context import Context
from hotline.services.intake import take_in
from hotline.services.tickets import perform
from hotline.storage.calls import AgentState, Call, TransferAttempt
from hotline.storage.citizens import Citizen, Contact
from hotline.storage.tickets import Ticket
from hotline.storage.upsert import dialect_of
from hotline.storage.users import User
from ivr import acd

IVR = Actor(ActorKind.SYSTEM, "ivr")

#: where a call can be; "ended" is final
STAGES = (
    "menu",
    "query",
    "emergency",
    "queued",
    "connecting",
    "with_agent",
    "conference",
    "voicemail",
    "ended",
)
AGENT_STATES = ("available", "on_call", "wrap_up", "offline")
#: Twilio's final CallStatus values
FINAL_CALL_STATUS = ("completed", "busy", "failed", "no-answer", "canceled")
#: what a Dial's DialCallStatus (or a participant's CallStatus) means for a transfer
TRANSFER_RESULTS = {
    "completed": "answered",
    "answered": "answered",
    "in-progress": "answered",
    "busy": "busy",
    "no-answer": "no-answer",
    "failed": "failed",
    "canceled": "canceled",
}


@dataclass(frozen=True)
class Arrival:
    call_sid: str
    priority: int
    reasons: list[str]
    repeat_call: bool
    new: bool


# -- arrival and status ------------------------------------------------------------------------


async def call_arrived(ctx: Context, call_sid: str, from_number: str, to_number: str) -> Arrival:
    """Record a new call (a contact on the phone channel) and work out its priority."""
    now = ctx.clock.now()
    phone = normalise_phone(from_number, ctx.config.city.phone_region)
    window = timedelta(hours=ctx.config.ivr.repeat_caller_hours)
    async with ctx.db.sessions() as session, session.begin():
        existing = await session.get(Call, call_sid)
        if existing is not None:
            return Arrival(
                call_sid, existing.priority, list(existing.priority_reasons), False, new=False
            )
        citizen = None
        repeat = False
        if phone.e164 is not None:
            citizen = await session.scalar(select(Citizen).where(Citizen.phone == phone.e164))
            repeat = bool(
                await session.scalar(
                    select(func.count())
                    .select_from(Call)
                    .where(Call.from_e164 == phone.e164, Call.arrived_at >= now - window)
                )
            )
        priority, reasons = acd.caller_priority(
            needs_assistance=bool(citizen and citizen.needs_assistance), repeat_call=repeat
        )
        contact = Contact(
            channel=Channel.PHONE.value,
            channel_ref=call_sid,
            citizen_id=citizen.id if citizen else None,
            received_at=now,
            created_at=now,
            content="",
            payload={"CallSid": call_sid, "From": from_number, "To": to_number},
        )
        session.add(contact)
        await session.flush()
        call = Call(
            call_sid=call_sid,
            contact_id=contact.id,
            citizen_id=citizen.id if citizen else None,
            from_number=from_number,
            from_e164=phone.e164,
            to_number=to_number,
            status="ringing",
            stage="menu",
            priority=priority,
            priority_reasons=reasons,
            arrived_at=now,
            updated_at=now,
        )
        session.add(call)
        await live.publish_call(ctx, session, "arrived", call)
    return Arrival(call_sid, priority, reasons, repeat, new=True)


async def _call(session: AsyncSession, call_sid: str) -> Call:
    call = await session.get(Call, call_sid)
    if call is None:
        raise NotFound(f"通话 {call_sid} 不存在")
    return call


async def get_call(ctx: Context, call_sid: str) -> tuple[Call, list[TransferAttempt]]:
    async with ctx.db.sessions() as session:
        call = await _call(session, call_sid)
        attempts = list(
            await session.scalars(
                select(TransferAttempt)
                .where(TransferAttempt.call_sid == call_sid)
                .order_by(TransferAttempt.started_at, TransferAttempt.fallback, TransferAttempt.id)
            )
        )
    return call, attempts


async def set_stage(ctx: Context, call_sid: str, stage: str) -> None:
    async with ctx.db.sessions() as session, session.begin():
        call = await _call(session, call_sid)
        if call.stage != "ended":
            call.stage = stage
            call.updated_at = ctx.clock.now()
            await live.publish_call(ctx, session, "stage", call)


@dataclass(frozen=True)
class Ending:
    abandoned: bool
    answered: bool
    agent_id: int | None


async def call_status(
    ctx: Context, call_sid: str, status: str, duration: str | None = None
) -> Ending | None:
    """Twilio's status callback for the caller's leg. Returns the ending once, when final."""
    now = ctx.clock.now()
    async with ctx.db.sessions() as session, session.begin():
        call = await session.get(Call, call_sid)
        if call is None:
            return None
        call.updated_at = now
        if status not in FINAL_CALL_STATUS:
            if call.stage != "ended":
                call.status = status
            return None
        if call.ended_at is not None:
            return None  # a repeated final callback
        call.status = status
        call.ended_at = now
        was = call.stage
        call.stage = "ended"
        if call.answered_at is not None:
            call.talk_seconds = (now - call.answered_at).total_seconds()
        elif was in ("queued", "connecting"):
            call.abandoned = True
            if call.queued_at is not None:
                call.wait_seconds = (now - call.queued_at).total_seconds()
        agent = None
        if call.agent_id is not None:
            agent = await session.get(AgentState, call.agent_id)
            if agent is not None and agent.current_call_sid == call_sid:
                _set_agent(agent, "wrap_up", now)
        await live.publish_call(ctx, session, "abandoned" if call.abandoned else "ended", call)
        await live.publish_agents(ctx, session, agent)
        return Ending(call.abandoned, call.answered_at is not None, call.agent_id)


async def recording_ready(ctx: Context, call_sid: str, recording_sid: str, url: str) -> None:
    async with ctx.db.sessions() as session, session.begin():
        call = await session.get(Call, call_sid)
        if call is not None:
            call.recording_sid = recording_sid
            call.recording_url = url
            call.updated_at = ctx.clock.now()


# -- the queue ---------------------------------------------------------------------------------


async def enqueue(ctx: Context, call_sid: str, *, emergency_failed: bool = False) -> None:
    """Put the caller in the agents' queue; a caller who returns keeps their place."""
    now = ctx.clock.now()
    async with ctx.db.sessions() as session, session.begin():
        call = await _call(session, call_sid)
        if call.stage == "ended":
            return
        call.stage = "queued"
        call.queued_at = call.queued_at or now
        if emergency_failed and "emergency_transfer_failed" not in call.priority_reasons:
            call.priority += acd.PRIORITY_EMERGENCY
            call.priority_reasons = [*call.priority_reasons, "emergency_transfer_failed"]
        call.updated_at = now
        await live.publish_call(ctx, session, "queued", call)


async def waiting(ctx: Context) -> list[acd.Waiting]:
    async with ctx.db.sessions() as session:
        rows = await session.execute(
            select(Call.call_sid, Call.priority, Call.queued_at).where(Call.stage == "queued")
        )
        return [acd.Waiting(r.call_sid, r.priority, r.queued_at) for r in rows if r.queued_at]


async def ahead_of(ctx: Context, call_sid: str) -> int:
    """How many callers will be served before this one."""
    place = acd.position(await waiting(ctx), call_sid)
    return max((place or 1) - 1, 0)


async def queue_left(ctx: Context, call_sid: str, result: str) -> str:
    """The Enqueue verb ended (QueueResult). Returns what the caller asked for, if anything."""
    async with ctx.db.sessions() as session, session.begin():
        call = await _call(session, call_sid)
        if result == "hangup" and call.stage in ("queued", "connecting"):
            call.abandoned = True
            call.stage = "ended"
            call.ended_at = call.ended_at or ctx.clock.now()
            if call.queued_at is not None:
                call.wait_seconds = (ctx.clock.now() - call.queued_at).total_seconds()
            await live.publish_call(ctx, session, "abandoned", call)
        call.updated_at = ctx.clock.now()
        return call.stage


async def choose_overflow(ctx: Context, call_sid: str, choice: str) -> None:
    """The caller chose to leave a message (voicemail) or to be called back (callback)."""
    if choice not in ("voicemail", "callback"):
        raise InvalidField("choice", choice)
    await set_stage(ctx, call_sid, choice if choice == "voicemail" else "ended")


# -- agents ------------------------------------------------------------------------------------


def _set_agent(agent: AgentState, state: str, now: datetime) -> None:
    if agent.state != state:
        agent.state = state
        agent.state_since = now
    if state in ("available", "offline"):
        agent.current_call_sid = None


async def set_agent_state(
    ctx: Context,
    username: str,
    state: str,
    *,
    phone: str | None = None,
    client_identity: str | None = None,
) -> AgentState:
    if state not in AGENT_STATES:
        raise InvalidField("state", f"必须是 {'、'.join(AGENT_STATES)} 之一")
    now = ctx.clock.now()
    async with ctx.db.sessions() as session, session.begin():
        user = await session.scalar(select(User).where(User.username == username))
        if user is None or user.role not in ("agent", "supervisor"):
            raise NotFound(f"坐席 {username} 不存在")
        agent = await session.get(AgentState, user.id)
        if agent is None:
            agent = AgentState(user_id=user.id, state="offline", state_since=now)
            session.add(agent)
        if phone is not None:
            parsed = normalise_phone(phone, ctx.config.city.phone_region)
            if parsed.e164 is None:
                raise InvalidField("phone", f"无法识别的电话号码: {phone}")
            agent.phone = parsed.e164
        if client_identity is not None:
            agent.client_identity = client_identity or None
        if state == "available" and not (agent.phone or agent.client_identity):
            raise InvalidField("state", "坐席需先登记电话号码或 Twilio Client 标识才能接听来电")
        if state == "available" and agent.state == "on_call" and agent.current_call_sid:
            raise Conflict("坐席正在通话中", code="agent_on_call")
        _set_agent(agent, state, now)
        await session.flush()
        await live.publish_agents(ctx, session, agent)
        return agent


async def agents(ctx: Context) -> list[tuple[User, AgentState]]:
    async with ctx.db.sessions() as session:
        rows = await session.execute(
            select(User, AgentState).join(AgentState, AgentState.user_id == User.id)
        )
        return [(row[0], row[1]) for row in rows]


async def end_wrap_up(ctx: Context) -> int:
    """Agents whose wrap-up time is over become available again (a periodic job)."""
    cutoff = ctx.clock.now() - timedelta(seconds=ctx.config.ivr.wrap_up_seconds)
    async with ctx.db.sessions() as session, session.begin():
        done = list(
            await session.scalars(
                select(AgentState).where(
                    AgentState.state == "wrap_up", AgentState.state_since <= cutoff
                )
            )
        )
        for agent in done:
            _set_agent(agent, "available", ctx.clock.now())
        await live.publish_agents(ctx, session, *done)
        return len(done)


@dataclass(frozen=True)
class Offer:
    call_sid: str
    agent_id: int


async def claim_offers(ctx: Context) -> list[Offer]:
    """Pair queued callers with idle agents and reserve both (the caller is 'connecting').

    On PostgreSQL the rows are claimed with FOR UPDATE SKIP LOCKED, so two app instances never
    give one caller or one agent twice; SQLite serialises writers anyway.
    """
    now = ctx.clock.now()
    async with ctx.db.sessions() as session, session.begin():
        lock = dialect_of(session) == "postgresql"
        calls_q = select(Call).where(Call.stage == "queued", Call.queued_at.is_not(None))
        agents_q = select(AgentState).where(AgentState.state == "available")
        if lock:
            calls_q = calls_q.with_for_update(skip_locked=True)
            agents_q = agents_q.with_for_update(skip_locked=True)
        calls = {c.call_sid: c for c in await session.scalars(calls_q)}
        idle = {a.user_id: a for a in await session.scalars(agents_q)}
        pairs = acd.match(
            [acd.Waiting(c.call_sid, c.priority, c.queued_at or now) for c in calls.values()],
            [acd.Idle(a.user_id, a.state_since) for a in idle.values()],
        )
        offers = []
        for caller, free in pairs:
            call, agent = calls[caller.call_sid], idle[free.agent_id]
            call.stage = "connecting"
            call.agent_id = agent.user_id
            call.updated_at = now
            _set_agent(agent, "on_call", now)
            agent.current_call_sid = call.call_sid
            offers.append(Offer(call.call_sid, agent.user_id))
            await live.publish_call(ctx, session, "offered", call)
            await live.publish_agents(ctx, session, agent)
        return offers


async def offer_failed(ctx: Context, offer: Offer) -> None:
    """Twilio did not take the redirect: the caller goes back to the queue, the agent is free."""
    async with ctx.db.sessions() as session, session.begin():
        call = await session.get(Call, offer.call_sid)
        if call is not None and call.stage == "connecting":
            call.stage = "queued"
            call.agent_id = None
            await live.publish_call(ctx, session, "requeued", call)
        agent = await session.get(AgentState, offer.agent_id)
        if agent is not None and agent.current_call_sid == offer.call_sid:
            _set_agent(agent, "available", ctx.clock.now())
            await live.publish_agents(ctx, session, agent)


async def agent_device(ctx: Context, agent_id: int) -> AgentState:
    async with ctx.db.sessions() as session:
        agent = await session.get(AgentState, agent_id)
        if agent is None:
            raise NotFound(f"坐席 {agent_id} 不存在")
        return agent


async def agent_answered(ctx: Context, call_sid: str, agent_id: int, leg_sid: str) -> float | None:
    """The agent picked up. Returns the caller's wait in seconds the first time, else None."""
    now = ctx.clock.now()
    async with ctx.db.sessions() as session, session.begin():
        call = await _call(session, call_sid)
        call.agent_leg_sid = leg_sid
        call.agent_id = agent_id
        if call.stage != "ended":
            call.stage = "with_agent"
        call.updated_at = now
        agent = await session.get(AgentState, agent_id)
        if agent is not None:
            _set_agent(agent, "on_call", now)
            agent.current_call_sid = call_sid
        await live.publish_call(ctx, session, "answered", call)
        await live.publish_agents(ctx, session, agent)
        if call.answered_at is not None:
            return None
        call.answered_at = now
        start = call.queued_at or call.arrived_at
        call.wait_seconds = (now - start).total_seconds()
        return call.wait_seconds


async def agent_dial_ended(ctx: Context, call_sid: str, agent_id: int, dial_status: str) -> bool:
    """The Dial to an agent ended. True if the caller must go back to the queue (missed)."""
    now = ctx.clock.now()
    missed = dial_status in ("no-answer", "busy", "failed", "canceled")
    async with ctx.db.sessions() as session, session.begin():
        call = await _call(session, call_sid)
        agent = await session.get(AgentState, agent_id)
        if agent is not None and agent.current_call_sid == call_sid:
            # an agent who does not answer is taken off the queue until they come back
            _set_agent(agent, "offline" if missed else "wrap_up", now)
        if missed and call.stage in ("connecting", "with_agent"):
            call.stage = "queued"
            call.agent_id = None
        elif not missed and call.stage == "with_agent":
            call.stage = "ended"
        call.updated_at = now
        await live.publish_call(ctx, session, "requeued" if missed else "ended", call)
        await live.publish_agents(ctx, session, agent)
        return missed and call.stage == "queued"


# -- tickets for calls -------------------------------------------------------------------------


async def ticket_for_call(
    ctx: Context,
    call_sid: str,
    content: str,
    *,
    ticket_type: TicketType | None = None,
    urgency: Urgency = Urgency.NORMAL,
    triage: str | None = None,
) -> str:
    """The call's ticket: made once per call through the intake service, and linked."""
    async with ctx.db.sessions() as session:
        call = await _call(session, call_sid)
        if call.ticket_id is not None:
            number = await session.scalar(select(Ticket.number).where(Ticket.id == call.ticket_id))
            if number is not None:
                return number
    payload = {"CallSid": call_sid, "From": call.from_number}
    if triage:
        payload["request"] = triage
    result = await take_in(
        ctx,
        IntakeValue(
            channel=Channel.PHONE,
            channel_ref=call_sid,
            received_at=call.arrived_at,
            content=content,
            type=ticket_type,
            phone=call.from_number,
            urgency=urgency,
            payload=payload,
        ),
        IVR,
    )
    return result.number


# -- emergency transfers -----------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    id: str
    call_sid: str
    target: EmergencyService
    number: str
    fallback: bool


async def start_transfer(
    ctx: Context,
    call_sid: str,
    target: EmergencyService,
    *,
    via: str,
    fallback: bool = False,
    agent_id: int | None = None,
) -> Attempt | None:
    """Record an attempt to reach ``target``; None when no number is configured for it."""
    numbers = ctx.config.emergency_fallback if fallback else ctx.config.emergency
    number = numbers.get(target)
    if number is None:
        return None
    how = "坐席三方通话" if via == "agent" else "语音菜单"
    number_of_ticket = await ticket_for_call(
        ctx,
        call_sid,
        f"来电人经{how}一键转接{target.value}",
        ticket_type=TicketType.HELP,
        urgency=Urgency.URGENT,
    )
    attempt = Attempt(ctx.ids(), call_sid, target, number, fallback)
    async with ctx.db.sessions() as session, session.begin():
        call = await _call(session, call_sid)
        if via == "menu":
            call.stage = "emergency"
        ticket_id = await session.scalar(select(Ticket.id).where(Ticket.number == number_of_ticket))
        session.add(
            TransferAttempt(
                id=attempt.id,
                call_sid=call_sid,
                target=target.value,
                number=number,
                via=via,
                fallback=fallback,
                result="pending",
                started_at=ctx.clock.now(),
                agent_id=agent_id,
                ticket_id=ticket_id,
            )
        )
        await live.publish_call(
            ctx,
            session,
            "transfer",
            call,
            attempt=attempt.id,
            target=target.value,
            result="pending",
        )
    return attempt


async def attempt_by_id(ctx: Context, attempt_id: str) -> TransferAttempt:
    async with ctx.db.sessions() as session:
        attempt = await session.get(TransferAttempt, attempt_id)
        if attempt is None:
            raise NotFound(f"转接记录 {attempt_id} 不存在")
        return attempt


async def set_participant(ctx: Context, attempt_id: str, participant_sid: str) -> None:
    async with ctx.db.sessions() as session, session.begin():
        attempt = await session.get(TransferAttempt, attempt_id)
        if attempt is not None:
            attempt.participant_sid = participant_sid


async def finish_transfer(
    ctx: Context, attempt_id: str, twilio_status: str, detail: str | None = None
) -> str | None:
    """Record an attempt's result on the call's record and on its ticket, once.

    Returns the result the first time it is known (answered, busy, no-answer, failed,
    canceled), None for a repeat or a non-final status.
    """
    result = TRANSFER_RESULTS.get(twilio_status)
    if result is None:
        return None
    async with ctx.db.sessions() as session, session.begin():
        attempt = await session.get(TransferAttempt, attempt_id)
        if attempt is None:
            raise NotFound(f"转接记录 {attempt_id} 不存在")
        if attempt.result != "pending":
            return None
        attempt.result = result
        attempt.ended_at = ctx.clock.now()
        attempt.detail = detail
        ticket_number = None
        status = None
        if attempt.ticket_id is not None:
            row = (
                await session.execute(
                    select(Ticket.number, Ticket.status).where(Ticket.id == attempt.ticket_id)
                )
            ).one()
            ticket_number, status = row.number, Status(row.status)
        target = EmergencyService(attempt.target)
        number = attempt.number
        call = await _call(session, attempt.call_sid)
        await live.publish_call(
            ctx, session, "transfer", call, attempt=attempt.id, target=target.value, result=result
        )
    if ticket_number is not None:
        outcome = (
            f"转接{target.value}({number}){'成功' if result == 'answered' else '未成功：' + result}"
        )
        if result == "answered" and status in AT_CENTRE:
            action: TransferEmergency | Annotate = TransferEmergency(target, result=outcome)
        else:
            action = Annotate(
                outcome, kind="transfer", details=(("target", target.value), ("result", result))
            )
        await perform(ctx, ticket_number, action, IVR)
    return result
