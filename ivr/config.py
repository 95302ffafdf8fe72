"""The IVR's config (``ivr:`` in config.yaml): prompts, keys, voices, queue limits.

The default follows GB/T 33358's wish for a human answer within 15 seconds: a short greeting
with the recording notice, the emergency keys and the progress query, and otherwise straight
to the queue — no menu maze.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from hotline.configbase import Section
from hotline.domain.vocabulary import EmergencyService


class Prompt(Section):
    """Something the caller hears: text spoken in Mandarin, or a recorded prompt's URL."""

    text: str | None = None
    play: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Prompt:
        if (self.text is None) == (self.play is None):
            raise ValueError("give exactly one of text or play")
        return self


class MenuKey(Section):
    action: Literal["emergency", "query", "queue"]
    target: EmergencyService | None = None
    #: words that choose this key when the caller speaks instead of pressing it
    words: list[str] = []

    @model_validator(mode="after")
    def _target(self) -> MenuKey:
        if (self.action == "emergency") != (self.target is not None):
            raise ValueError("an emergency key needs a target (110, 119 or 120), others none")
        return self


def _say(text: str) -> Prompt:
    return Prompt(text=text)


class IvrConfig(Section):
    language: str = "cmn-CN"
    voice: str = "Polly.Zhiyu"
    speech_language: str = "cmn-Hans-CN"
    greeting: Prompt = _say(
        "您好，这里是安阳12345政务服务便民热线。为了提高服务质量，您的通话可能会被录音。"
    )
    menu: Prompt = _say(
        "报警请按1，火警请按2，医疗急救请按3，查询工单办理进度请按9。其他事项请稍候，马上为您转接人工服务。"
    )
    #: seconds the menu waits for a key before sending the caller to the queue
    menu_timeout_seconds: int = Field(default=4, ge=1, le=10)
    keys: dict[str, MenuKey] = {
        "1": MenuKey(
            action="emergency", target=EmergencyService.POLICE, words=["报警", "警察", "110"]
        ),
        "2": MenuKey(
            action="emergency", target=EmergencyService.FIRE, words=["火警", "着火", "119"]
        ),
        "3": MenuKey(
            action="emergency", target=EmergencyService.AMBULANCE, words=["急救", "救护车", "120"]
        ),
        "9": MenuKey(action="query", words=["查询", "进度", "工单"]),
    }
    emergency_connecting: Prompt = _say("正在为您转接{service}，请不要挂机。")
    emergency_failed: Prompt = _say(
        "转接{service}未成功，请挂机后直接拨打{target}。现在为您转接人工坐席。"
    )
    emergency_not_configured: Prompt = _say("请挂机后直接拨打{target}。现在为您转接人工坐席。")
    emergency_dial_timeout_seconds: int = Field(default=20, ge=5, le=60)
    query_prompt: Prompt = _say("请输入工单编号中的数字，共14位，以井号键结束。")
    query_result: Prompt = _say("您的工单{number}，当前状态为{status}。{due}")
    query_due: str = "办理期限为{month}月{day}日。"
    query_not_found: Prompt = _say("没有查到这个工单编号，请重新输入。")
    query_give_up: Prompt = _say("仍未查到工单，马上为您转接人工服务。")
    query_max_attempts: int = Field(default=3, ge=1, le=5)
    queue_name: str = "hotline"
    wait_message: Prompt = _say("您前面还有{ahead}位来电人，请您耐心等待。")
    hold_music: str | None = None
    #: after this long in the queue the caller may leave a message or ask to be called back
    wait_limit_seconds: int = Field(default=120, ge=15, le=3600)
    overflow_menu: Prompt = _say(
        "坐席正忙。留言请按1，需要我们回电请按2，继续等待请按其他键或不按键。"
    )
    voicemail_prompt: Prompt = _say("请在提示音后留言，说完请按井号键或挂机。")
    voicemail_max_seconds: int = Field(default=120, ge=10, le=600)
    voicemail_thanks: Prompt = _say("留言已记录，工单编号已通过短信发送给您。谢谢，再见。")
    callback_thanks: Prompt = _say("已为您登记回电，工作人员将尽快与您联系。谢谢，再见。")
    agent_unavailable: Prompt = _say("正在为您转接其他坐席，请稍候。")
    transfer_failed: Prompt = _say("转接未成功，请继续与坐席通话。")
    #: seconds an agent's phone rings before the call goes to the next agent
    agent_ring_seconds: int = Field(default=15, ge=5, le=60)
    #: seconds of wrap-up after a call before the agent is offered the next one
    wrap_up_seconds: int = Field(default=30, ge=0, le=600)
    record_calls: bool = True
    #: repeat callers within this many hours are served first (after the elderly and disabled)
    repeat_caller_hours: int = Field(default=24, ge=1, le=168)
    #: answered within this many seconds counts as "answered in time" (GB/T 33358: 15 s)
    answer_target_seconds: int = Field(default=15, ge=5, le=60)

    @model_validator(mode="after")
    def _keys(self) -> IvrConfig:
        for key in self.keys:
            if key not in "0123456789*#" or len(key) != 1:
                raise ValueError(f"menu key {key!r} must be one of 0-9, * or #")
        return self
