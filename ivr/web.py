"""Twilio voice webhooks: the IVR, the queue, agents and emergency transfers.

Every handler is thin: the signature is checked and the delivery made exactly-once by
``twilio_webhook``; the handler calls one use case in ``ivr.calls`` and answers with TwiML from
``ivr.menu``. Slow work (REST calls to Twilio for the ACD) runs in the background, so every
answer leaves well inside Twilio's 15 seconds.
"""

from __future__ import annotations

import structlog
from aiohttp import web
from twilio.twiml.voice_response import VoiceResponse

from channels.web import register_senders
from hotline.domain.errors import NotFound
from hotline.domain.numbers import digits_to_number
from hotline.domain.vocabulary import EmergencyService, Status, TicketType
from hotline.services import queries, ratings
from hotline.web.carrier import absolute_url, twilio_webhook, twiml
from hotline.web.keys import CONTEXT, METRICS
from ivr import calls, menu, survey, transfer
from ivr.api import routes as api_routes
from ivr.runner import kick_acd, setup_runner

log = structlog.get_logger(__name__)

routes = web.RouteTableDef()
VOICE = "twilio-voice"


def setup(app: web.Application) -> None:
    app.router.add_routes(routes)
    setup_runner(app)
    app.router.add_routes(api_routes)
    app.router.add_routes(survey.routes)
    register_senders(app, survey.survey_senders)


def _url(request: web.Request, name: str, **query: object) -> str:
    return absolute_url(request, f"/twilio/voice/{name}" if name else "/twilio/voice", **query)


def _queue_url(request: web.Request, **query: object) -> str:
    return _url(request, "queue", **query)


# -- arrival and the menu ----------------------------------------------------------------------


def acknowledged() -> web.Response:
    """A status callback's answer: an empty TwiML document (Twilio ignores its content)."""
    return twiml(VoiceResponse())


@routes.post("/twilio/voice")
@twilio_webhook(VOICE, stored=False)  # arrival is an upsert on CallSid; the greeting is fixed
async def incoming(request: web.Request, form: dict[str, str]) -> web.Response:
    ctx = request.app[CONTEXT]
    arrival = await calls.call_arrived(
        ctx, _required(form, "CallSid"), form.get("From", ""), form.get("To", "")
    )
    if arrival.new:
        request.app[METRICS].calls_offered.inc()
    return twiml(
        menu.greeting(ctx.config.ivr, menu_url=_url(request, "menu"), queue_url=_queue_url(request))
    )


@routes.post("/twilio/voice/menu")
@twilio_webhook(VOICE)
async def menu_choice(request: web.Request, form: dict[str, str]) -> web.Response:
    ctx = request.app[CONTEXT]
    call_sid = _required(form, "CallSid")
    key = menu.choose(ctx.config.ivr, form.get("Digits"), form.get("SpeechResult"))
    if key is not None and key.action == "emergency" and key.target is not None:
        return await _emergency(request, call_sid, key.target, fallback=False)
    if key is not None and key.action == "query":
        await calls.set_stage(ctx, call_sid, "query")
        return twiml(
            menu.query_prompt(ctx.config.ivr, action_url=_url(request, "query", attempt=1))
        )
    return await _enqueue(request, call_sid)


async def _emergency(
    request: web.Request, call_sid: str, target: EmergencyService, *, fallback: bool
) -> web.Response:
    ctx = request.app[CONTEXT]
    attempt = await calls.start_transfer(ctx, call_sid, target, via="menu", fallback=fallback)
    if attempt is None:
        await calls.ticket_for_call(
            ctx,
            call_sid,
            f"来电人选择一键转接{target.value}，但未配置转接号码",
            ticket_type=TicketType.HELP,
        )
        await calls.enqueue(ctx, call_sid, emergency_failed=True)
        kick_acd(request.app)
        return twiml(
            menu.emergency_failed(
                ctx.config.ivr, target, configured=fallback, queue_url=_queue_url(request)
            )
        )
    return twiml(
        menu.emergency_dial(
            ctx.config.ivr,
            target,
            attempt.number,
            action_url=_url(request, "emergency-result", attempt=attempt.id),
        )
    )


@routes.post("/twilio/voice/emergency-result")
@twilio_webhook(VOICE)
async def emergency_result(request: web.Request, form: dict[str, str]) -> web.Response:
    """The Dial to 110/119/120 ended: record the result; on failure try the fallback number,
    then bring the caller to an agent first in line."""
    ctx = request.app[CONTEXT]
    attempt = await calls.attempt_by_id(ctx, request.query.get("attempt", ""))
    status = form.get("DialCallStatus", "failed")
    result = await calls.finish_transfer(ctx, attempt.id, status, form.get("ErrorMessage"))
    log.info("emergency transfer", call=attempt.call_sid, target=attempt.target, result=result)
    target = EmergencyService(attempt.target)
    if (result or attempt.result) == "answered":
        return twiml(menu.hang_up())
    if not attempt.fallback and target in ctx.config.emergency_fallback:
        return await _emergency(request, attempt.call_sid, target, fallback=True)
    await calls.enqueue(ctx, attempt.call_sid, emergency_failed=True)
    kick_acd(request.app)
    return twiml(
        menu.emergency_failed(
            ctx.config.ivr, target, configured=True, queue_url=_queue_url(request)
        )
    )


# -- progress query ----------------------------------------------------------------------------


@routes.post("/twilio/voice/query")
@twilio_webhook(VOICE)
async def progress_query(request: web.Request, form: dict[str, str]) -> web.Response:
    ctx = request.app[CONTEXT]
    cfg = ctx.config.ivr
    call_sid = _required(form, "CallSid")
    attempt = _int(request.query.get("attempt"), 1)
    number = digits_to_number(ctx.config.city.ticket_prefix, form.get("Digits", ""))
    if number is not None:
        try:
            view = await queries.get_ticket(ctx, number)
        except NotFound:
            pass
        else:
            status = Status(view.ticket.status)
            return twiml(
                menu.query_result(
                    cfg, number=number, status_label=status.label, due_at=view.ticket.due_at
                )
            )
    if attempt >= cfg.query_max_attempts:
        await calls.enqueue(ctx, call_sid)
        kick_acd(request.app)
        return twiml(menu.say_then(cfg, cfg.query_give_up, then_url=_queue_url(request)))
    return twiml(
        menu.query_prompt(
            cfg, action_url=_url(request, "query", attempt=attempt + 1), prompt=cfg.query_not_found
        )
    )


# -- the queue ---------------------------------------------------------------------------------


async def _enqueue(request: web.Request, call_sid: str) -> web.Response:
    ctx = request.app[CONTEXT]
    await calls.enqueue(ctx, call_sid)
    kick_acd(request.app)
    return twiml(
        menu.enqueue(
            ctx.config.ivr, wait_url=_url(request, "wait"), action_url=_url(request, "dequeued")
        )
    )


@routes.post("/twilio/voice/queue")
@twilio_webhook(VOICE)
async def queue(request: web.Request, form: dict[str, str]) -> web.Response:
    return await _enqueue(request, _required(form, "CallSid"))


@routes.post("/twilio/voice/wait")
@twilio_webhook(VOICE)
async def wait(request: web.Request, form: dict[str, str]) -> web.Response:
    """Twilio's waitUrl, requested again and again while the caller waits."""
    ctx = request.app[CONTEXT]
    call_sid = _required(form, "CallSid")
    kick_acd(request.app)
    ahead = await calls.ahead_of(ctx, call_sid)
    waited = _int(form.get("QueueTime"), 0)
    return twiml(
        menu.wait(
            ctx.config.ivr,
            ahead=ahead,
            offer_overflow=waited >= ctx.config.ivr.wait_limit_seconds,
            overflow_url=_url(request, "overflow"),
        )
    )


@routes.post("/twilio/voice/overflow")
@twilio_webhook(VOICE)
async def overflow(request: web.Request, form: dict[str, str]) -> web.Response:
    """After the wait limit: 1 leaves a voice message, 2 asks for a call back."""
    ctx = request.app[CONTEXT]
    call_sid = _required(form, "CallSid")
    choice = {"1": "voicemail", "2": "callback"}.get(form.get("Digits", "")[:1])
    if choice is None:
        return twiml(
            menu.wait(
                ctx.config.ivr,
                ahead=await calls.ahead_of(ctx, call_sid),
                offer_overflow=False,
                overflow_url=_url(request, "overflow"),
            )
        )
    if choice == "callback":
        number = await calls.ticket_for_call(
            ctx,
            call_sid,
            f"来电人排队超时，请求回电：{form.get('From', '')}",
            triage="callback",
        )
        log.info("callback requested", call=call_sid, ticket=number)
    await calls.choose_overflow(ctx, call_sid, choice)
    return twiml(menu.leave_queue())


@routes.post("/twilio/voice/dequeued")
@twilio_webhook(VOICE)
async def dequeued(request: web.Request, form: dict[str, str]) -> web.Response:
    """The Enqueue verb ended: hung up, left for voicemail or a call back, or failed."""
    ctx = request.app[CONTEXT]
    cfg = ctx.config.ivr
    call_sid = _required(form, "CallSid")
    result = form.get("QueueResult", "")
    stage = await calls.queue_left(ctx, call_sid, result)
    if result == "hangup":
        request.app[METRICS].calls_abandoned.inc()
        return twiml(menu.hang_up())
    if stage == "voicemail":
        return twiml(
            menu.voicemail(
                cfg, action_url=_url(request, "voicemail"), recording_url=_url(request, "recording")
            )
        )
    if stage == "ended":  # a call back was requested
        return twiml(menu.say_and_hang_up(cfg, cfg.callback_thanks))
    if result in ("error", "system-error", "queue-full"):
        return await _enqueue(request, call_sid)
    return twiml(menu.hang_up())


@routes.post("/twilio/voice/voicemail")
@twilio_webhook(VOICE)
async def voicemail(request: web.Request, form: dict[str, str]) -> web.Response:
    """The caller's message: it becomes a ticket with the recording, never lost."""
    ctx = request.app[CONTEXT]
    call_sid = _required(form, "CallSid")
    url = form.get("RecordingUrl", "")
    number = await calls.ticket_for_call(
        ctx,
        call_sid,
        f"来电留言(录音 {form.get('RecordingDuration', '?')} 秒)：{url}",
        triage="voicemail",
    )
    if url:
        await calls.recording_ready(ctx, call_sid, form.get("RecordingSid", ""), url)
    await calls.set_stage(ctx, call_sid, "ended")
    log.info("voicemail", call=call_sid, ticket=number)
    return twiml(menu.say_and_hang_up(ctx.config.ivr, ctx.config.ivr.voicemail_thanks))


# -- agents ------------------------------------------------------------------------------------


@routes.post("/twilio/voice/connect")
@twilio_webhook(VOICE)
async def connect(request: web.Request, form: dict[str, str]) -> web.Response:
    """The ACD moved the caller here: ring the chosen agent."""
    ctx = request.app[CONTEXT]
    agent_id = _int(request.query.get("agent"), 0)
    agent = await calls.agent_device(ctx, agent_id)
    return twiml(
        menu.connect_agent(
            ctx.config.ivr,
            phone=agent.phone,
            client_identity=agent.client_identity,
            action_url=_url(request, "agent-done", agent=agent_id),
            leg_status_url=_url(request, "agent-leg", agent=agent_id, call=form.get("CallSid")),
            recording_url=_url(request, "recording"),
        )
    )


@routes.post("/twilio/voice/agent-leg")
@twilio_webhook(VOICE)
async def agent_leg(request: web.Request, form: dict[str, str]) -> web.Response:
    """Status of the agent's leg: when it is answered the caller's wait ends."""
    ctx = request.app[CONTEXT]
    caller = request.query.get("call") or form.get("ParentCallSid", "")
    agent_id = _int(request.query.get("agent"), 0)
    if form.get("CallStatus") in ("in-progress", "answered"):
        waited = await calls.agent_answered(ctx, caller, agent_id, form.get("CallSid", ""))
        if waited is not None:
            within = waited <= ctx.config.ivr.answer_target_seconds
            request.app[METRICS].calls_answered.labels("yes" if within else "no").inc()
            request.app[METRICS].call_wait.observe(waited)
    return acknowledged()


@routes.post("/twilio/voice/agent-done")
@twilio_webhook(VOICE)
async def agent_done(request: web.Request, form: dict[str, str]) -> web.Response:
    """The Dial to the agent ended: if missed, queue again; after a conversation in which the
    agent answered the matter on the spot, the caller (still on the line) rates the answer;
    otherwise hang up."""
    ctx = request.app[CONTEXT]
    call_sid = _required(form, "CallSid")
    agent_id = _int(request.query.get("agent"), 0)
    dial_status = form.get("DialCallStatus", "completed")
    again = await calls.agent_dial_ended(ctx, call_sid, agent_id, dial_status)
    if again:
        kick_acd(request.app)
        return twiml(
            menu.say_then(
                ctx.config.ivr, ctx.config.ivr.agent_unavailable, then_url=_queue_url(request)
            )
        )
    if dial_status == "completed" and form.get("CallStatus", "in-progress") == "in-progress":
        invitation = await ratings.survey_in_call(ctx, call_sid)
        if invitation is not None:
            log.info("after-call survey", call=call_sid, invitation=invitation)
            return survey.after_call(request, invitation)
    return twiml(menu.hang_up())


# -- status callbacks --------------------------------------------------------------------------


@routes.post("/twilio/voice/status")
@twilio_webhook(VOICE, stored=False)  # the final status is recorded once, by the call's row
async def status(request: web.Request, form: dict[str, str]) -> web.Response:
    ctx = request.app[CONTEXT]
    ending = await calls.call_status(
        ctx, _required(form, "CallSid"), form.get("CallStatus", ""), form.get("CallDuration")
    )
    if ending is not None:
        if ending.abandoned:
            request.app[METRICS].calls_abandoned.inc()
        kick_acd(request.app)
    return acknowledged()


@routes.post("/twilio/voice/recording")
@twilio_webhook(VOICE)
async def recording(request: web.Request, form: dict[str, str]) -> web.Response:
    if form.get("RecordingStatus", "completed") == "completed" and form.get("RecordingUrl"):
        await calls.recording_ready(
            request.app[CONTEXT],
            _required(form, "CallSid"),
            form.get("RecordingSid", ""),
            form["RecordingUrl"],
        )
    return acknowledged()


@routes.post("/twilio/voice/transfer-status")
@twilio_webhook(VOICE)
async def transfer_status(request: web.Request, form: dict[str, str]) -> web.Response:
    """Status of the dispatch centre's leg in a three-way transfer."""
    ctx = request.app[CONTEXT]
    attempt_id = request.query.get("attempt", "")
    result = await calls.finish_transfer(
        ctx, attempt_id, form.get("CallStatus", ""), form.get("ErrorMessage")
    )
    if result is not None and result != "answered":
        await transfer.announce_failure(request.app, attempt_id)
    return acknowledged()


@routes.post("/twilio/voice/conference")
@twilio_webhook(VOICE)
async def conference_status(request: web.Request, form: dict[str, str]) -> web.Response:
    await transfer.conference_event(
        request.app[CONTEXT],
        form.get("FriendlyName", ""),
        form.get("ConferenceSid", ""),
        form.get("StatusCallbackEvent", ""),
    )
    return acknowledged()


@routes.post("/twilio/voice/announce")
@twilio_webhook(VOICE)
async def announce(request: web.Request, form: dict[str, str]) -> web.Response:
    cfg = request.app[CONTEXT].config.ivr
    return twiml(menu.announcement(cfg, cfg.transfer_failed))


# -- helpers -----------------------------------------------------------------------------------


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name, "").strip()
    if not value:
        raise web.HTTPBadRequest(text=f"missing {name}")
    return value


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default
