"""好差评 by phone: an automated survey call, and the survey at the end of an answered call.

The outbox's ``survey_call`` messages become outbound calls through Twilio's REST API; the
call asks for one key (1 非常满意 … 5 非常不满意) and the answer is recorded like any rating.
A caller whose matter the agent answered on the spot (直接答复) is asked the same question
when the agent hangs up, still on the same call (``after_call``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import structlog
from aiohttp import web
from twilio.twiml.voice_response import VoiceResponse

from hotline.adapters.twilio import TwilioRest
from hotline.domain.errors import DomainError
from hotline.services import ratings
from hotline.services.outbox import InDoubt, Message, Sender, SendFailed
from hotline.web.carrier import absolute_url, twilio_webhook, twiml
from hotline.web.keys import CONTEXT, TWILIO
from ivr.config import IvrConfig, Prompt
from ivr.gateway import FAILURES
from ivr.menu import speak

log = structlog.get_logger(__name__)

routes = web.RouteTableDef()

SURVEY = Prompt(
    text="您好，这里是安阳12345政务服务便民热线。您反映的问题已经办理答复，请您评价："
    "非常满意请按1，满意请按2，基本满意请按3，不满意请按4，非常不满意请按5。"
)
AFTER_CALL = Prompt(
    text="请您对刚才坐席的答复进行评价："
    "非常满意请按1，满意请按2，基本满意请按3，不满意请按4，非常不满意请按5。"
)
THANKS = Prompt(text="感谢您的评价，再见。")
NO_ANSWER = Prompt(text="您没有选择评价，感谢接听，再见。")


class SurveyCallSender:
    """Places the survey call. A call whose placing was interrupted is not placed again on
    its own: ringing a citizen twice is worse than a person looking at it."""

    in_doubt: InDoubt = "hold"

    def __init__(self, rest: TwilioRest, base_url: str) -> None:
        self.rest = rest
        self.base_url = base_url.rstrip("/")

    async def send(self, message: Message) -> str | None:
        if not self.rest.phone_number:
            raise SendFailed("未配置 twilio.phone_number，无法外呼", permanent=True)
        invitation = message.payload.get("invitation")
        try:
            call = await self.rest.client.calls.create_async(
                to=message.recipient,
                from_=self.rest.phone_number,
                url=f"{self.base_url}/twilio/voice/survey?invitation={invitation}",
                method="POST",
                timeout=30,
            )
        except FAILURES as exc:
            raise SendFailed(f"外呼失败: {exc}") from exc
        return str(call.sid)

    async def lookup(self, message: Message) -> str | None:  # pragma: no cover - "hold"
        return None


@asynccontextmanager
async def survey_senders(app: web.Application) -> AsyncIterator[Mapping[str, Sender]]:
    rest = app[TWILIO]
    base = app[CONTEXT].settings.secrets.public_url
    if rest is None or not base:
        yield {}
        return
    yield {"survey_call": SurveyCallSender(rest, base)}


def _ask(cfg: IvrConfig, action: str, prompt: Prompt = SURVEY) -> VoiceResponse:
    response = VoiceResponse()
    gather = response.gather(input="dtmf", num_digits=1, timeout=8, action=action, method="POST")
    speak(gather, prompt, cfg)
    speak(response, NO_ANSWER, cfg)
    response.hangup()
    return response


@routes.post("/twilio/voice/survey")
@twilio_webhook("twilio-voice")
async def survey(request: web.Request, form: dict[str, str]) -> web.Response:
    invitation = request.query.get("invitation", "")
    action = absolute_url(request, "/twilio/voice/survey-result", invitation=invitation)
    return twiml(_ask(request.app[CONTEXT].config.ivr, action))


def after_call(request: web.Request, invitation: int) -> web.Response:
    """The end-of-call survey, for the caller still on the line after the agent hung up."""
    action = absolute_url(request, "/twilio/voice/survey-result", invitation=str(invitation))
    return twiml(_ask(request.app[CONTEXT].config.ivr, action, AFTER_CALL))


@routes.post("/twilio/voice/survey-result")
@twilio_webhook("twilio-voice")
async def survey_result(request: web.Request, form: dict[str, str]) -> web.Response:
    ctx = request.app[CONTEXT]
    cfg = ctx.config.ivr
    digit = form.get("Digits", "")[:1]
    invitation = request.query.get("invitation", "")
    response = VoiceResponse()
    if digit in {"1", "2", "3", "4", "5"} and invitation.isdigit():
        try:
            await ratings.rate_invitation(
                ctx, int(invitation), int(digit), "phone", form.get("CallSid"), None
            )
        except DomainError as exc:
            log.info("survey answer not recorded", invitation=invitation, reason=exc.message)
        speak(response, THANKS, cfg)
    else:
        speak(response, NO_ANSWER, cfg)
    response.hangup()
    return twiml(response)
