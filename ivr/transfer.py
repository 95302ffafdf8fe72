"""One-key transfer from a live agent call (三方通话, the 12345–110 linkage rule).

The caller and the agent are moved into a conference through Twilio's REST API, then the
dispatch centre is dialled in as a participant, so the agent stays on until the handover.
The centre's leg reports its result to ``/twilio/voice/transfer-status``; a failure is
announced in the conference, where the caller is still with the agent.
"""

from __future__ import annotations

import structlog
from aiohttp import web
from sqlalchemy import select

from hotline.domain.errors import IllegalTransition, InvalidField
from hotline.domain.vocabulary import EmergencyService
from hotline.services.context import Context
from hotline.storage.calls import Call, TransferAttempt
from hotline.web.keys import CONTEXT
from ivr import calls, menu
from ivr.gateway import GatewayError
from ivr.runner import ACD

log = structlog.get_logger(__name__)


def conference_name(call_sid: str) -> str:
    return f"xfer-{call_sid}"


async def transfer_live_call(
    app: web.Application, call_sid: str, target: EmergencyService, *, agent_id: int | None
) -> TransferAttempt:
    ctx = app[CONTEXT]
    base = (ctx.settings.secrets.public_url or "").rstrip("/")
    gateway = app[ACD].current_gateway()
    if gateway is None or not base:
        raise IllegalTransition("未配置 Twilio 或 HOTLINE_PUBLIC_URL，无法转接", code="no_carrier")
    call, _ = await calls.get_call(ctx, call_sid)
    if call.stage not in ("with_agent", "conference") or not call.agent_leg_sid:
        raise IllegalTransition(f"通话 {call_sid} 当前不在坐席接听中，不能三方转接")
    attempt = await calls.start_transfer(
        ctx, call_sid, target, via="agent", agent_id=agent_id or call.agent_id
    )
    if attempt is None:
        raise InvalidField("target", f"未配置{target.value}的转接号码(config: emergency)")
    name = conference_name(call_sid)
    status_url = f"{base}/twilio/voice/conference"
    try:
        if call.stage != "conference":
            await gateway.update_twiml(
                call_sid, str(menu.conference(name, status_url=status_url, end_on_exit=True))
            )
            await gateway.update_twiml(
                call.agent_leg_sid,
                str(menu.conference(name, status_url=status_url, end_on_exit=False)),
            )
            await _into_conference(ctx, call_sid, name)
        participant = await gateway.add_participant(
            name,
            to=attempt.number,
            caller_id=ctx.config.twilio.phone_number or call.to_number,
            status_url=f"{base}/twilio/voice/transfer-status?attempt={attempt.id}",
            ring_seconds=ctx.config.ivr.emergency_dial_timeout_seconds,
        )
    except GatewayError as exc:
        log.warning("transfer failed at Twilio", call=call_sid, error=str(exc))
        await calls.finish_transfer(ctx, attempt.id, "failed", str(exc))
    else:
        await calls.set_participant(ctx, attempt.id, participant)
    return await calls.attempt_by_id(ctx, attempt.id)


async def _into_conference(ctx: Context, call_sid: str, name: str) -> None:
    async with ctx.db.sessions() as session, session.begin():
        call = await session.get(Call, call_sid)
        if call is not None and call.stage != "ended":
            call.stage = "conference"
            call.conference_name = name


async def conference_event(ctx: Context, name: str, conference_sid: str, event: str) -> None:
    """Conference status callbacks tell us the conference's SID (needed to announce)."""
    if not name or not conference_sid:
        return
    async with ctx.db.sessions() as session, session.begin():
        call = await session.scalar(select(Call).where(Call.conference_name == name))
        if call is not None and call.conference_sid is None:
            call.conference_sid = conference_sid


async def announce_failure(app: web.Application, attempt_id: str) -> None:
    """Tell the caller and the agent, in their conference, that the transfer failed."""
    ctx = app[CONTEXT]
    attempt = await calls.attempt_by_id(ctx, attempt_id)
    call, _ = await calls.get_call(ctx, attempt.call_sid)
    gateway = app[ACD].current_gateway()
    base = (ctx.settings.secrets.public_url or "").rstrip("/")
    if gateway is None or not base or call.conference_sid is None:
        log.warning("cannot announce failed transfer", call=call.call_sid)
        return
    try:
        await gateway.announce(call.conference_sid, f"{base}/twilio/voice/announce")
    except GatewayError as exc:
        log.warning("announcement failed", call=call.call_sid, error=str(exc))
