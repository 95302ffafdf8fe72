"""The hotline's closed vocabularies: ticket types, statuses, channels, roles.

Values are stable English codes (they appear in the API and the database); ``label`` gives the
Simplified Chinese name shown to citizens and staff.
"""

from __future__ import annotations

from enum import StrEnum


class TicketType(StrEnum):
    """诉求类型 (条例第四十五条, 第四十八条). The API takes and returns the Chinese names."""

    CONSULTATION = "咨询"
    SUGGESTION = "建议"
    HELP = "求助"
    COMPLAINT = "投诉"
    REPORT = "举报"
    PRAISE = "表扬"

    @classmethod
    def parse(cls, value: str) -> TicketType:
        for member in cls:
            if value in (member.value, member.name.lower()):
                return member
        raise ValueError(value)


class Status(StrEnum):
    RECEIVED = "received"
    ANSWERED = "answered"
    REJECTED = "rejected"
    TRANSFERRED = "transferred"
    MERGED = "merged"
    AWAITING_DISPATCH = "awaiting_dispatch"
    DISPATCHED = "dispatched"
    SIGNED = "signed"
    IN_PROGRESS = "in_progress"
    SUSPENDED = "suspended"
    RETURNED = "returned"
    REPLIED = "replied"
    AWAITING_CALLBACK = "awaiting_callback"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return STATUS_LABELS[self]

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES

    @property
    def is_with_department(self) -> bool:
        """A unit holds the ticket and its clock runs."""
        return self in WITH_DEPARTMENT


STATUS_LABELS: dict[Status, str] = {
    Status.RECEIVED: "已受理",
    Status.ANSWERED: "已直接答复",
    Status.REJECTED: "不予受理",
    Status.TRANSFERRED: "已转紧急热线",
    Status.MERGED: "已并单",
    Status.AWAITING_DISPATCH: "待派单",
    Status.DISPATCHED: "已派单",
    Status.SIGNED: "已签收",
    Status.IN_PROGRESS: "办理中",
    Status.SUSPENDED: "暂缓办理",
    Status.RETURNED: "退回待审核",
    Status.REPLIED: "已答复",
    Status.AWAITING_CALLBACK: "待回访",
    Status.CLOSED: "已办结",
}

#: Statuses no action leaves except reopening (重办) where the rules allow it.
FINAL_STATUSES = frozenset(
    {Status.ANSWERED, Status.REJECTED, Status.TRANSFERRED, Status.MERGED, Status.CLOSED}
)
#: Before any unit holds the ticket: the hotline centre decides what to do with it.
AT_CENTRE = frozenset({Status.RECEIVED, Status.AWAITING_DISPATCH})
#: A lead unit holds the ticket (a pending return still counts: the unit's clock runs on).
WITH_DEPARTMENT = frozenset(
    {Status.DISPATCHED, Status.SIGNED, Status.IN_PROGRESS, Status.SUSPENDED, Status.RETURNED}
)
#: Statuses that count as "open" for queues, overdue lists and repeat detection.
OPEN_STATUSES = frozenset(Status) - FINAL_STATUSES


class Channel(StrEnum):
    """Where a contact came in (条例第四十五条)."""

    PHONE = "phone"
    SMS = "sms"
    WECHAT = "wechat"
    MAILBOX = "mailbox"
    PLATFORM = "platform"
    APP = "app"
    WEIBO = "weibo"
    CONSOLE = "console"
    API = "api"

    @property
    def label(self) -> str:
        return CHANNEL_LABELS[self]


CHANNEL_LABELS: dict[Channel, str] = {
    Channel.PHONE: "12345电话",
    Channel.SMS: "手机短信",
    Channel.WECHAT: "微信",
    Channel.MAILBOX: "市长信箱",
    Channel.PLATFORM: "上级平台交办",
    Channel.APP: "手机客户端",
    Channel.WEIBO: "微博",
    Channel.CONSOLE: "坐席录入",
    Channel.API: "接口",
}


class Urgency(StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"


class Role(StrEnum):
    """主办 (lead) or 协办 (co-handler) unit of an assignment."""

    LEAD = "lead"
    CO = "co"


class AssignmentStatus(StrEnum):
    DISPATCHED = "dispatched"
    SIGNED = "signed"
    IN_PROGRESS = "in_progress"
    SUSPENDED = "suspended"
    RETURN_PENDING = "return_pending"
    RETURNED = "returned"
    REPLIED = "replied"
    CLOSED = "closed"

    @property
    def is_active(self) -> bool:
        return self in ACTIVE_ASSIGNMENT


ACTIVE_ASSIGNMENT = frozenset(
    {
        AssignmentStatus.DISPATCHED,
        AssignmentStatus.SIGNED,
        AssignmentStatus.IN_PROGRESS,
        AssignmentStatus.SUSPENDED,
        AssignmentStatus.RETURN_PENDING,
    }
)


class EmergencyService(StrEnum):
    """一键转接 targets (条例第四十六条第二款)."""

    POLICE = "110"
    FIRE = "119"
    AMBULANCE = "120"


class ActorKind(StrEnum):
    SYSTEM = "system"
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"
    DEPARTMENT = "department"
    CITIZEN = "citizen"
    PLATFORM = "platform"


class RejectReason(StrEnum):
    """不予受理 reasons (条例第四十九条第三项; the taxonomy's out_of_scope notes)."""

    OUTSIDE_CITY = "outside_city"
    LITIGATION = "litigation"
    PETITION = "petition"
    PARTY_CONGRESS_COURTS_ARMY = "party_congress_courts_army"
    NOT_GOVERNMENT_SERVICE = "not_government_service"
    NO_CONTENT = "no_content"
