"""The IVR's TwiML documents, built with ``twilio.twiml`` from the config (never from strings).

Pure: each function takes the config, the facts it needs and the absolute URLs Twilio should
call next, and returns a ``VoiceResponse``. The handlers in ``ivr.web`` decide which one.
"""

from __future__ import annotations

from datetime import datetime

from twilio.twiml.voice_response import Gather, VoiceResponse

from hotline.calendar import to_shanghai
from hotline.domain.vocabulary import EmergencyService
from ivr.config import IvrConfig, MenuKey, Prompt

SERVICE_NAMES = {
    EmergencyService.POLICE: "公安报警台110",
    EmergencyService.FIRE: "消防救援119",
    EmergencyService.AMBULANCE: "医疗急救120",
}


def speak(node: VoiceResponse | Gather, prompt: Prompt, cfg: IvrConfig, **values: object) -> None:
    """Say the prompt in Mandarin, or play its recording."""
    if prompt.play is not None:
        node.play(prompt.play)
    else:
        text = (prompt.text or "").format(**values)
        node.say(text, language=cfg.language, voice=cfg.voice)


def choose(cfg: IvrConfig, digits: str | None, speech: str | None) -> MenuKey | None:
    """The menu key the caller chose by pressing it or by saying one of its words."""
    if digits:
        return cfg.keys.get(digits[:1])
    if speech:
        heard = speech.replace(" ", "")
        for key in cfg.keys.values():
            if any(word in heard for word in key.words):
                return key
    return None


def greeting(cfg: IvrConfig, *, menu_url: str, queue_url: str) -> VoiceResponse:
    """Greeting and menu in one short gather; silence goes straight to the queue."""
    response = VoiceResponse()
    hints = ",".join(word for key in cfg.keys.values() for word in key.words)
    gather = response.gather(
        input="dtmf speech",
        language=cfg.speech_language,
        hints=hints or None,
        num_digits=1,
        timeout=cfg.menu_timeout_seconds,
        speech_timeout="auto",
        action=menu_url,
        method="POST",
        action_on_empty_result=False,
    )
    speak(gather, cfg.greeting, cfg)
    speak(gather, cfg.menu, cfg)
    response.redirect(queue_url, method="POST")
    return response


def emergency_dial(
    cfg: IvrConfig, target: EmergencyService, number: str, *, action_url: str
) -> VoiceResponse:
    """一键转接: dial the dispatch centre; the caller's own number is shown to it."""
    response = VoiceResponse()
    speak(response, cfg.emergency_connecting, cfg, service=SERVICE_NAMES[target])
    dial = response.dial(
        action=action_url, method="POST", timeout=cfg.emergency_dial_timeout_seconds
    )
    dial.number(number)
    return response


def emergency_failed(
    cfg: IvrConfig, target: EmergencyService, *, configured: bool, queue_url: str
) -> VoiceResponse:
    """The transfer did not connect: say so, then put the caller first in the agents' queue."""
    response = VoiceResponse()
    prompt = cfg.emergency_failed if configured else cfg.emergency_not_configured
    speak(response, prompt, cfg, service=SERVICE_NAMES[target], target=target.value)
    response.redirect(queue_url, method="POST")
    return response


def enqueue(cfg: IvrConfig, *, wait_url: str, action_url: str) -> VoiceResponse:
    response = VoiceResponse()
    response.enqueue(
        cfg.queue_name,
        wait_url=wait_url,
        wait_url_method="POST",
        action=action_url,
        method="POST",
    )
    return response


def wait(cfg: IvrConfig, *, ahead: int, offer_overflow: bool, overflow_url: str) -> VoiceResponse:
    """What a queued caller hears, repeated until an agent takes the call."""
    response = VoiceResponse()
    speak(response, cfg.wait_message, cfg, ahead=ahead)
    if offer_overflow:
        gather = response.gather(
            input="dtmf", num_digits=1, timeout=6, action=overflow_url, method="POST"
        )
        speak(gather, cfg.overflow_menu, cfg)
    if cfg.hold_music:
        response.play(cfg.hold_music)
    else:
        response.pause(length=8)
    return response


def leave_queue() -> VoiceResponse:
    response = VoiceResponse()
    response.leave()
    return response


def query_prompt(cfg: IvrConfig, *, action_url: str, prompt: Prompt | None = None) -> VoiceResponse:
    response = VoiceResponse()
    gather = response.gather(
        input="dtmf",
        num_digits=20,
        finish_on_key="#",
        timeout=10,
        action=action_url,
        method="POST",
    )
    if prompt is not None:
        speak(gather, prompt, cfg)
    speak(gather, cfg.query_prompt, cfg)
    response.redirect(action_url, method="POST")
    return response


def spoken_number(number: str) -> str:
    """Ticket numbers read digit by digit (the letters are the city prefix, left out)."""
    return " ".join(ch for ch in number if ch.isdigit())


def query_result(
    cfg: IvrConfig, *, number: str, status_label: str, due_at: datetime | None
) -> VoiceResponse:
    response = VoiceResponse()
    due = ""
    if due_at is not None:
        local = to_shanghai(due_at)
        due = cfg.query_due.format(month=local.month, day=local.day)
    speak(
        response,
        cfg.query_result,
        cfg,
        number=spoken_number(number),
        status=status_label,
        due=due,
    )
    response.hangup()
    return response


def connect_agent(
    cfg: IvrConfig,
    *,
    phone: str | None,
    client_identity: str | None,
    action_url: str,
    leg_status_url: str,
    recording_url: str,
) -> VoiceResponse:
    """Bridge the caller to the chosen agent's phone or Twilio Client."""
    response = VoiceResponse()
    dial = response.dial(
        action=action_url,
        method="POST",
        timeout=cfg.agent_ring_seconds,
        answer_on_bridge=True,
        record="record-from-answer-dual" if cfg.record_calls else None,
        recording_status_callback=recording_url if cfg.record_calls else None,
        recording_status_callback_method="POST" if cfg.record_calls else None,
    )
    events = "answered completed"
    if client_identity:
        dial.client(
            client_identity,
            status_callback=leg_status_url,
            status_callback_event=events,
            status_callback_method="POST",
        )
    elif phone:
        dial.number(
            phone,
            status_callback=leg_status_url,
            status_callback_event=events,
            status_callback_method="POST",
        )
    else:  # pragma: no cover - agents without a device are never chosen
        raise ValueError("an agent needs a phone number or a client identity")
    return response


def conference(name: str, *, status_url: str, end_on_exit: bool) -> VoiceResponse:
    """三方通话: caller, agent and dispatch centre in one conference."""
    response = VoiceResponse()
    dial = response.dial()
    dial.conference(
        name,
        start_conference_on_enter=True,
        end_conference_on_exit=end_on_exit,
        beep=False,
        status_callback=status_url,
        status_callback_event="start end join leave",
        status_callback_method="POST",
    )
    return response


def say_and_hang_up(cfg: IvrConfig, prompt: Prompt) -> VoiceResponse:
    response = VoiceResponse()
    speak(response, prompt, cfg)
    response.hangup()
    return response


def say_then(cfg: IvrConfig, prompt: Prompt, *, then_url: str) -> VoiceResponse:
    response = VoiceResponse()
    speak(response, prompt, cfg)
    response.redirect(then_url, method="POST")
    return response


def announcement(cfg: IvrConfig, prompt: Prompt) -> VoiceResponse:
    response = VoiceResponse()
    speak(response, prompt, cfg)
    return response


def voicemail(cfg: IvrConfig, *, action_url: str, recording_url: str) -> VoiceResponse:
    response = VoiceResponse()
    speak(response, cfg.voicemail_prompt, cfg)
    response.record(
        action=action_url,
        method="POST",
        max_length=cfg.voicemail_max_seconds,
        play_beep=True,
        finish_on_key="#",
        recording_status_callback=recording_url,
        recording_status_callback_method="POST",
    )
    return response


def hang_up() -> VoiceResponse:
    response = VoiceResponse()
    response.hangup()
    return response
