"""Config of the messaging channels (``channels:`` in config.yaml).

Everything a citizen reads is a template here, in Simplified Chinese, with named placeholders
(``{number}``, ``{due_date}``, ...). A template that names a placeholder its message does not
offer is refused when the config loads, so a typo stops the server instead of a citizen's SMS.
"""

from __future__ import annotations

import string
from typing import Any

from pydantic import Field, HttpUrl, model_validator

from channels.files import KNOWN_TYPES
from hotline.configbase import Section
from hotline.domain.vocabulary import Channel

#: placeholders each template may use (checked at load)
_FIELDS: dict[str, frozenset[str]] = {
    "accepted": frozenset({"number", "channel"}),
    "accepted_reply": frozenset({"number"}),
    "attached_reply": frozenset({"number"}),
    "replied": frozenset({"number", "reply"}),
    "answered": frozenset({"number", "answer"}),
    "rejected": frozenset({"number", "guidance"}),
    "extension": frozenset({"number", "reason", "due_date"}),
    "suspended": frozenset({"number", "progress", "measures", "expected_date"}),
    "status": frozenset({"number", "status", "detail"}),
    "status_due": frozenset({"due_date"}),
    "status_reply": frozenset({"reply"}),
    "status_expected": frozenset({"expected_date"}),
    "not_found": frozenset({"number"}),
    "open_list": frozenset({"items"}),
    "none_open": frozenset(),
    "opted_out": frozenset(),
    "opted_in": frozenset(),
    "welcome": frozenset(),
    "unsupported": frozenset(),
    "slow_ack": frozenset(),
}


def check_template(name: str, text: str) -> str:
    allowed = _FIELDS[name]
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValueError(f"template {name}: {exc}") from exc
    for _, field, _, _ in parsed:
        if field is None:
            continue
        if field not in allowed:
            offered = "、".join(sorted(allowed)) or "(none)"
            raise ValueError(
                f"template {name}: unknown placeholder {{{field}}}; offered: {offered}"
            )
    return text


class _Templates(Section):
    @model_validator(mode="before")
    @classmethod
    def _fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, value in data.items():
                if key in _FIELDS and isinstance(value, str):
                    check_template(key, value)
        return data


class Texts(_Templates):
    """What the citizen reads on the channel they wrote on (SMS reply, WeChat passive reply)."""

    accepted_reply: str = (
        "您的诉求已受理，工单编号{number}。"
        "回复“查询{number}”可查询办理进度，回复“退订”不再接收办理通知。"
    )
    attached_reply: str = "您补充的内容已并入工单{number}，我们会一并办理。"
    status: str = "工单{number}当前状态：{status}。{detail}"
    status_due: str = "办理期限：{due_date}。"
    status_reply: str = "答复内容：{reply}"
    status_expected: str = "预计解决时间：{expected_date}。"
    not_found: str = "未查到您名下的工单{number}，请核对编号后重试，或拨打12345查询。"
    open_list: str = "您名下正在办理的工单：{items}。发送“查询+工单编号”可查看详情。"
    none_open: str = "您名下暂无正在办理的工单。如需反映问题，请直接发送内容。"


class SmsTemplates(_Templates):
    """Notifications sent through the outbox (条例第五十条: reply, extension, suspension)."""

    accepted: str = (
        "您通过{channel}反映的诉求已受理，工单编号{number}。"
        "发送“查询{number}”到本号码可查询办理进度，回复“退订”不再接收办理通知。"
    )
    replied: str = "您的工单{number}已办理答复：{reply} 如有疑问请拨打12345。"
    #: the centre answered on the spot (直接答复, 第四十九条): the answer itself
    answered: str = "您的工单{number}已直接答复：{answer} 如有疑问请拨打12345。"
    #: outside the hotline's scope (不予受理): where to go instead (第四十九条)
    rejected: str = "您反映的事项（工单{number}）不属于12345热线受理范围。{guidance}"
    extension: str = "您的工单{number}因“{reason}”经批准延期办理，新的办理期限为{due_date}。"
    suspended: str = (
        "您的工单{number}暂时无法解决，现告知办理情况。目前进展：{progress}；"
        "解决措施：{measures}；预计解决时间：{expected_date}。"
    )
    opted_out: str = "您已退订办理通知短信，工单仍会照常办理。回复“订阅”可恢复接收。"
    opted_in: str = "您已恢复接收办理通知短信。"


class SmsConfig(Section):
    #: prefixed to every SMS the hotline sends (Chinese carriers require a signature)
    signature: str = Field(default="【安阳12345】", max_length=20)
    #: a text from the same number within this many minutes joins the citizen's open ticket
    follow_up_minutes: int = Field(default=30, ge=0, le=24 * 60)
    #: words (the whole message, case-insensitive) that stop or resume notification SMS
    opt_out_words: list[str] = ["退订", "TD", "T", "STOP", "UNSUBSCRIBE", "CANCEL", "取消订阅"]
    opt_in_words: list[str] = ["订阅", "START", "UNSTOP"]
    #: a message made of one of these words plus a ticket number is a status query
    query_words: list[str] = ["查询", "查", "CX"]
    #: a department's reply quoted in an SMS is cut to this many characters
    reply_max_chars: int = Field(default=300, ge=20, le=2000)
    #: "accepted" SMS (with the number) for tickets from these channels; SMS itself and WeChat
    #: already answer with the number at once
    notify_accepted_for: list[Channel] = [
        Channel.PHONE,
        Channel.MAILBOX,
        Channel.CONSOLE,
        Channel.API,
        Channel.APP,
        Channel.WEIBO,
    ]
    #: a direct answer (直接答复) or an out-of-scope notice (不予受理) is sent to citizens of
    #: these channels; a caller heard it from the agent, a superior platform gets its result
    notify_answer_for: list[Channel] = [
        Channel.SMS,
        Channel.WECHAT,
        Channel.MAILBOX,
        Channel.CONSOLE,
        Channel.API,
        Channel.APP,
        Channel.WEIBO,
    ]
    templates: SmsTemplates = SmsTemplates()


class WeChatTemplates(_Templates):
    welcome: str = (
        "感谢关注安阳12345政务服务便民热线！请直接发送您要咨询、求助、投诉或建议的内容，"
        "可附图片和位置；发送“查询+工单编号”可查询办理进度。紧急情况请拨打110、119、120。"
    )
    unsupported: str = "暂不支持此类消息，请发送文字、语音、图片或位置。"
    #: the passive reply when handling takes longer than WeChat waits (the result follows as
    #: a customer-service message)
    slow_ack: str = "已收到，正在为您登记，稍后告知工单编号。"


class WeChatConfig(Section):
    #: WeChat's API (the customer-service message API lives under it)
    api_base_url: HttpUrl = HttpUrl("https://api.weixin.qq.com/cgi-bin/")
    #: WeChat waits 5 s for the passive reply; slower results go out as customer-service messages
    reply_within_seconds: float = Field(default=4.0, ge=0, le=4.5)
    follow_up_minutes: int = Field(default=30, ge=0, le=24 * 60)
    max_body_bytes: int = Field(default=65_536, ge=1024, le=1_048_576)
    timeout_seconds: float = Field(default=10, gt=0, le=60)
    templates: WeChatTemplates = WeChatTemplates()
    #: replies to menu clicks (the CLICK event's EventKey → text)
    menu: dict[str, str] = {
        "QUERY": "请发送“查询+工单编号”，例如：查询AY20261126-000123。",
        "GUIDE": "请直接发送您要反映的问题，写明时间、地点和具体情况，可附图片和位置。",
    }


class MailboxConfig(Section):
    """市长信箱: limits of the form and of attachments (stored in the database, see docs)."""

    title_max_chars: int = Field(default=100, ge=10, le=200)
    content_min_chars: int = Field(default=5, ge=1, le=100)
    content_max_chars: int = Field(default=5000, ge=100, le=20_000)
    max_attachments: int = Field(default=3, ge=0, le=10)
    max_attachment_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024)
    #: content types accepted, recognised by the file's first bytes (not its name)
    attachment_types: list[str] = ["image/jpeg", "image/png", "application/pdf"]
    #: lookups by number and query code (the query page, its rating form, the public API):
    #: this many failures from one address within the window refuse further lookups from it
    #: until the window has passed (counted per instance)
    query_max_failures: int = Field(default=20, ge=1, le=10_000)
    query_window_minutes: int = Field(default=15, ge=1, le=24 * 60)

    @model_validator(mode="after")
    def _types(self) -> MailboxConfig:
        unknown = set(self.attachment_types) - set(KNOWN_TYPES)
        if unknown:
            raise ValueError(
                f"attachment_types: unknown {sorted(unknown)}; known: {sorted(KNOWN_TYPES)}"
            )
        return self

    @property
    def max_total_bytes(self) -> int:
        """The largest form we read: the attachments plus room for the text fields."""
        return self.max_attachments * self.max_attachment_bytes + 256 * 1024


class PlatformConfig(Section):
    """A superior platform (第四十八条第二项) that hands tickets to the hotline."""

    #: its name as staff know it
    label: str = ""
    #: where the result is pushed (POST, JSON) when the ticket is replied and when it closes
    callback_url: HttpUrl | None = None
    #: the environment variable that holds the secret the callbacks are signed with
    #: (X-Hotline-Signature, as the units' webhooks); unsigned when not set
    secret_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    timeout_seconds: float = Field(default=10, gt=0, le=60)


class OutboxConfig(Section):
    #: run the sending worker inside `hotline serve` (turn off to run it elsewhere)
    run_worker: bool = True
    #: tries before a message is dead-lettered (agents see it and may retry it)
    max_attempts: int = Field(default=8, ge=1, le=50)
    #: the first retry waits this long, each next one twice as long, up to the cap
    backoff_seconds: float = Field(default=30, gt=0, le=3600)
    backoff_max_seconds: float = Field(default=3600, gt=0, le=86_400)
    #: a claimed message is the claimant's for this long; then another worker may take it
    lease_seconds: float = Field(default=120, ge=5, le=3600)
    batch_size: int = Field(default=50, ge=1, le=1000)
    concurrency: int = Field(default=8, ge=1, le=100)
    #: seconds between polls when there is nothing to send
    poll_seconds: float = Field(default=1.0, gt=0, le=60)

    @model_validator(mode="after")
    def _cap(self) -> OutboxConfig:
        if self.backoff_max_seconds < self.backoff_seconds:
            raise ValueError("backoff_max_seconds must not be below backoff_seconds")
        return self


class ChannelsConfig(Section):
    texts: Texts = Texts()
    sms: SmsConfig = SmsConfig()
    wechat: WeChatConfig = WeChatConfig()
    mailbox: MailboxConfig = MailboxConfig()
    #: superior platforms by the name their API key was created with (`hotline keys add
    #: --platform NAME`)
    platforms: dict[str, PlatformConfig] = {}
    outbox: OutboxConfig = OutboxConfig()
