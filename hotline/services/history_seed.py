"""``hotline seed --demo --history 30d``: a month of realistic hotline work, made for real.

Every ticket goes through the services the hotline itself uses: calls through ``ivr.calls``
(arrival, queue, an agent answering or the caller hanging up), contacts through the intake
service on every channel, routing through ``dispatch.auto`` and ``dispatch.service``, every
unit's action through ``hotline.services.tickets.perform``, ratings, reviews, appeals and return
visits through ``hotline.services.ratings``, and the scheduler's own sweeps (deadline notices,
rating reminders and expiries, hotspots) once a simulated day. A :class:`FixedClock` walks the
simulated time, so every time and deadline is real: some units sign late, some replies are
overdue, some tickets are extended, returned, suspended, rated badly and rectified.

Deterministic: one seed drives every choice, each ticket's from its own generator, so the same
seed on the same days gives the same history. Idempotent: each contact carries a channel id
``hist-YYYYMMDD-…`` (calls ``CA-hist-YYYYMMDD-…``); a day that already has them is skipped.
Nothing reaches a citizen: the outbox messages of the seeded tickets are cancelled at the end.
Work that would fall after the present moment is not done (recent tickets are still open).
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import TypeVar

import structlog
from sqlalchemy import or_, select, update

from dispatch import hotspots
from dispatch.auto import auto_route, route_ticket
from dispatch.scheduler import sweep_deadlines
from dispatch.service import (
    decide_extension,
    decide_return,
    dispatch_to,
    request_extension,
    request_return,
)
from hotline.calendar import SHANGHAI, local_day
from hotline.clock import FixedClock
from hotline.domain.errors import DomainError, InvalidField
from hotline.domain.intake import IntakeValue
from hotline.domain.lifecycle import (
    Actor,
    Amend,
    AnswerDirectly,
    Reject,
    Reply,
    Resume,
    Sign,
    Suspend,
    TicketState,
)
from hotline.domain.vocabulary import (
    ActorKind,
    Channel,
    RejectReason,
    Status,
    TicketType,
)
from hotline.services import ratings
from hotline.services.context import Context
from hotline.services.intake import take_in
from hotline.services.reference import ReferenceData
from hotline.services.tickets import perform, read_state
from hotline.storage.citizens import Contact
from hotline.storage.evaluation import BadRatingReview, Rating
from hotline.storage.outbox import OutboxMessage
from hotline.storage.users import User
from ivr import calls

log = structlog.get_logger(__name__)

K = TypeVar("K")

REF_PREFIX = "hist-"
CALL_PREFIX = "CA-hist-"
DEFAULT_SEED = 12345
#: tickets on an ordinary working day (weekends and holidays see fewer)
DEFAULT_PER_DAY = 40

AGENT = "agent1"
SUPERVISOR = Actor(ActorKind.SUPERVISOR, "supervisor1")
CENTRE = Actor(ActorKind.AGENT, AGENT)

# -- what citizens say -------------------------------------------------------------------------

#: category → (type, text) shapes; {street} {county} {place} {n} are filled in
SHAPES: dict[str, list[tuple[TicketType, str]]] = {
    "municipal": [
        (
            TicketType.COMPLAINT,
            "{county}{street}{place}路段路灯已连续{n}天不亮，夜间行人通行不便，存在安全隐患。",
        ),
        (TicketType.COMPLAINT, "{street}{place}附近井盖破损下陷，车辆经过声音很大，怕有人掉下去。"),
        (
            TicketType.HELP,
            "{county}{street}{place}人行道砖块松动翘起，老人孩子容易绊倒，希望尽快维修。",
        ),
    ],
    "water": [
        (
            TicketType.COMPLAINT,
            "{county}{street}{place}小区从昨天开始停水，没有提前通知，生活很不方便。",
        ),
        (
            TicketType.CONSULTATION,
            "来电人咨询{county}{street}一户一表改造后水费如何缴纳，能否线上办理。",
        ),
        (TicketType.COMPLAINT, "{street}{place}小区自来水发黄有异味，已经持续{n}天了。"),
    ],
    "heating": [
        (
            TicketType.COMPLAINT,
            "{county}{street}{place}小区暖气不热，室温只有{n}度左右，家里有老人孩子。",
        ),
        (TicketType.CONSULTATION, "{county}今年供暖费什么时候开始交？提前交有没有优惠？"),
    ],
    "property": [
        (
            TicketType.COMPLAINT,
            "{street}{place}小区物业不作为，楼道垃圾{n}天没人清理，电梯也经常坏。",
        ),
        (TicketType.COMPLAINT, "物业把{place}小区绿地铲了改成停车位收钱，业主都不同意也没用。"),
    ],
    "sanitation": [
        (
            TicketType.COMPLAINT,
            "{county}{street}{place}路边垃圾堆积{n}天没人清运，气味很大，蚊蝇滋生。",
        ),
        (
            TicketType.COMPLAINT,
            "{county}{street}有条路两边被人偷倒了好几车建筑垃圾，一直没人清理。",
        ),
    ],
    "street_vendor": [
        (
            TicketType.COMPLAINT,
            "{county}{street}{place}学校门口放学时流动摊贩聚集，占用人行道，学生只能走机动车道。",
        ),
        (TicketType.COMPLAINT, "{street}{place}菜市场外占道经营严重，早上堵得车过不去。"),
    ],
    "construction_noise": [
        (
            TicketType.COMPLAINT,
            "{county}{street}{place}工地每天晚上十一点以后还在施工，噪音太大影响休息。",
        ),
    ],
    "illegal_building": [
        (TicketType.REPORT, "举报{county}{street}{place}小区有住户在楼顶私搭乱建，存在安全隐患。"),
    ],
    "traffic": [
        (
            TicketType.SUGGESTION,
            "建议在{county}{street}{place}路口增设红绿灯，早晚高峰行人过马路很危险。",
        ),
        (TicketType.COMPLAINT, "{street}{place}路段车辆乱停乱放，把消防通道都堵了。"),
    ],
    "transport": [
        (TicketType.COMPLAINT, "{n}路公交车经常不按点发车，等了四十分钟才来一趟。"),
        (TicketType.COMPLAINT, "在{county}打出租车司机拒载、不打表，要价很高。"),
    ],
    "wages": [
        (
            TicketType.HELP,
            "在{county}{street}一家工地干活，老板拖欠{n}个月工资不发，多次讨要无果。",
        ),
        (TicketType.HELP, "我在{county}一家公司上班，离职后公司扣着最后一个月工资不发。"),
    ],
    "social_insurance": [
        (TicketType.CONSULTATION, "来电人咨询灵活就业人员养老保险如何缴纳，每年缴费基数是多少。"),
    ],
    "medical_insurance": [
        (TicketType.CONSULTATION, "来电人咨询异地就医备案如何办理，在外地住院能否直接结算。"),
    ],
    "consumer": [
        (
            TicketType.COMPLAINT,
            "在{county}{street}一家健身房办了预付卡，现在店关门了，老板联系不上，要求退费。",
        ),
        (TicketType.COMPLAINT, "在{street}{place}超市买的食用油已过保质期，商家拒绝退换。"),
    ],
    "food_safety": [
        (
            TicketType.REPORT,
            "举报{county}{street}{place}一家小饭店后厨卫生条件很差，使用过期食材。",
        ),
    ],
    "education": [
        (
            TicketType.CONSULTATION,
            "来电人咨询{county}小学一年级入学报名需要准备哪些材料，户口不在本地能否入学。",
        ),
        (TicketType.COMPLAINT, "{county}{street}一家校外培训机构收了学费后不开课，也不退费。"),
    ],
    "household": [
        (TicketType.CONSULTATION, "来电人咨询身份证丢失后如何补办，能否在{county}异地办理。"),
    ],
    "civil_affairs": [
        (
            TicketType.HELP,
            "家住{county}{street}，家中老人行动不便，咨询如何申请低保和居家养老服务。",
        ),
    ],
    "real_estate": [
        (
            TicketType.COMPLAINT,
            "{county}{place}小区开发商延期交房已经{n}个月了，至今没有明确的交房时间。",
        ),
    ],
    "greening": [
        (TicketType.SUGGESTION, "{street}{place}绿化带的树木枯死了好多，建议补种。"),
    ],
    "power": [
        (TicketType.COMPLAINT, "{county}{street}{place}一带经常停电，一周停了{n}次，也没有通知。"),
    ],
    "gov_service": [
        (
            TicketType.COMPLAINT,
            "到{county}政务服务中心办事，窗口工作人员态度很差，让我跑了{n}趟还没办成。",
        ),
    ],
}
#: how often each category comes up (the rest of the taxonomy is rarer and left out)
CATEGORY_WEIGHTS: dict[str, int] = {
    "municipal": 12,
    "water": 9,
    "heating": 8,
    "property": 10,
    "sanitation": 9,
    "street_vendor": 6,
    "construction_noise": 6,
    "illegal_building": 3,
    "traffic": 6,
    "transport": 4,
    "wages": 6,
    "social_insurance": 4,
    "medical_insurance": 4,
    "consumer": 5,
    "food_safety": 2,
    "education": 4,
    "household": 3,
    "civil_affairs": 3,
    "real_estate": 3,
    "greening": 3,
    "power": 4,
    "gov_service": 2,
}
PLACES = (
    "幸福",
    "朝阳",
    "文明",
    "建设",
    "和平",
    "光明",
    "东风",
    "人民",
    "团结",
    "育才",
    "锦绣",
    "滨河",
)
PLACE_SUFFIX = ("小区", "路", "花园", "家园", "新村")
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林郑"
GIVEN = (
    "建国",
    "秀英",
    "桂兰",
    "志强",
    "海燕",
    "丽娟",
    "国华",
    "红梅",
    "子涵",
    "浩然",
    "伟",
    "静",
    "敏",
)
MOBILE_PREFIXES = (
    "138",
    "139",
    "135",
    "136",
    "137",
    "150",
    "151",
    "158",
    "186",
    "187",
    "188",
    "176",
)

REPLIES = (
    "经核实，来电人反映情况属实。我单位已安排人员现场处理，问题已解决。",
    "收到工单后，我单位于当日派员到现场查看，已协调相关责任单位整改完毕，并已电话联系{who}告知处理结果。",
    "经调查，该问题涉及多个部门，我单位已牵头召开协调会，制定整改方案，目前已整改到位。",
    "已联系{who}说明情况：相关政策规定及办理流程已详细告知，{who}表示理解。",
    "我单位已对涉事经营者进行约谈，责令其限期整改，并将持续跟踪监督。如有疑问可拨打0372-2551234咨询。",
    "工作人员已上门维修，现已恢复正常。联系人：{name}。",
)
ANSWERS = (
    "已根据知识库政策口径当场答复来电人，告知办理所需材料、地点和线上渠道。",
    "已告知来电人相关政策规定和咨询电话，来电人表示清楚。",
)


# -- the plan ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Citizen:
    phone: str | None
    name: str | None
    openid: str | None


@dataclass
class Matter:
    """One ticket's plan: what it is about and how its life will go."""

    ref: str
    day: date
    index: int
    channel: Channel
    category: str
    type: TicketType
    county: str
    street: str | None
    content: str
    citizen: Citizen
    confidential: bool
    rng: random.Random
    number: str | None = None
    lead: str | None = None


Step = Callable[[], Awaitable[None]]


@dataclass
class HistoryReport:
    days_seeded: list[date] = field(default_factory=list)
    days_skipped: list[date] = field(default_factory=list)
    tickets: int = 0
    calls: int = 0
    ratings: int = 0
    steps: int = 0
    refused: int = 0

    def __str__(self) -> str:
        return (
            f"history: {len(self.days_seeded)} days seeded, {len(self.days_skipped)} skipped "
            f"(already there); {self.tickets} tickets, {self.calls} calls, {self.ratings} ratings"
        )


def parse_span(text: str) -> int:
    """``30d`` or ``30``: a number of days, 1 to 366."""
    value = text.strip().lower().removesuffix("d")
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= 366:
        raise ValueError(f"--history takes a number of days such as 30d, not {text!r}")
    return int(value)


def _at(day: date, hours: float) -> datetime:
    return datetime.combine(day, time(), SHANGHAI) + timedelta(hours=hours)


class Simulation:
    def __init__(
        self, ctx: Context, clock: FixedClock, limit: datetime, seed: int, report: HistoryReport
    ) -> None:
        self.ctx = ctx
        self.clock = clock
        self.limit = limit
        self.seed = seed
        self.report = report
        self._queue: list[tuple[datetime, int, Step]] = []
        self._seq = 0
        self.ref: ReferenceData | None = None
        self.agent_ids: list[int] = []

    # -- the event queue -----------------------------------------------------------------------

    def at(self, when: datetime, step: Step) -> None:
        if when <= self.limit:
            self._seq += 1
            heapq.heappush(self._queue, (when, self._seq, step))

    async def run_until(self, until: datetime) -> None:
        while self._queue and self._queue[0][0] < until:
            when, _, step = heapq.heappop(self._queue)
            self.clock.set(max(when, self.clock.now()))
            self.report.steps += 1
            try:
                await step()
            except DomainError as exc:
                # a step the state no longer allows (the citizen rated meanwhile, ...): the
                # service refused it, as it would have refused a person
                self.report.refused += 1
                log.debug("history step refused", error=exc.message)

    # -- a day ---------------------------------------------------------------------------------

    def plan_day(self, day: date, per_day: int) -> None:
        rng = random.Random(f"{self.seed}:{day.isoformat()}")  # noqa: S311 - demo data
        working = self.ctx.calendar.is_workday(day)
        count = max(1, round(per_day * (1.0 if working else 0.55) * rng.uniform(0.8, 1.2)))
        assert self.ref is not None  # noqa: S101 - loaded before planning
        counties = sorted(code for code, d in self.ref.divisions.items() if d.level == "county")
        streets: dict[str, list[str]] = {}
        for code, d in self.ref.divisions.items():
            if d.level == "street" and d.parent_code:
                streets.setdefault(d.parent_code, []).append(code)
        # this week's hotspot: one matter at one street, reported again and again
        week = random.Random(f"{self.seed}:{day.isocalendar().week}:{day.year}")  # noqa: S311 - demo data
        hot_county = week.choice(counties[:4])
        hot_street = week.choice(sorted(streets.get(hot_county, [""])) or [""]) or None
        hot_category = week.choice(["municipal", "sanitation", "construction_noise", "water"])
        for i in range(count):
            matter_rng = random.Random(f"{self.seed}:{day.isoformat()}:{i}")  # noqa: S311 - demo data
            hot = matter_rng.random() < 0.12
            category = hot_category if hot else _weighted(matter_rng, CATEGORY_WEIGHTS)
            county = hot_county if hot else _county(matter_rng, counties)
            street_codes = sorted(streets.get(county, []))
            street = (
                hot_street if hot else (matter_rng.choice(street_codes) if street_codes else None)
            )
            kind, shape = matter_rng.choice(SHAPES[category])
            place = matter_rng.choice(PLACES) + matter_rng.choice(PLACE_SUFFIX)
            text = shape.format(
                county=self.ref.divisions[county].name,
                street=self.ref.divisions[street].name if street else "",
                place=place,
                n=matter_rng.randint(2, 9),
            )
            citizen = _citizen(matter_rng)
            if citizen.phone and matter_rng.random() < 0.08:
                text += f"请回电{citizen.phone.removeprefix('+86')}。"
            channel = _weighted(
                matter_rng,
                {
                    Channel.PHONE: 55,
                    Channel.WECHAT: 15,
                    Channel.SMS: 10,
                    Channel.MAILBOX: 10,
                    Channel.PLATFORM: 5,
                    Channel.APP: 5,
                },
            )
            matter = Matter(
                ref=f"{REF_PREFIX}{day:%Y%m%d}-{i:04d}",
                day=day,
                index=i,
                channel=channel,
                category=category,
                type=kind,
                county=county,
                street=street,
                content=text,
                citizen=citizen,
                confidential=matter_rng.random() < 0.04,
                rng=matter_rng,
            )
            hours = _hour_of_day(matter_rng)
            when = _at(day, hours)
            if channel is Channel.PHONE:
                self.at(when, functools.partial(self.call, matter, when))
            else:
                self.at(when, functools.partial(self.write_in, matter))
        # calls that never become tickets: progress queries by IVR, callers who hang up
        for i in range(round(count * 0.15)):
            call_rng = random.Random(f"{self.seed}:{day.isoformat()}:call:{i}")  # noqa: S311 - demo data
            when = _at(day, _hour_of_day(call_rng))
            sid = f"{CALL_PREFIX}{day:%Y%m%d}-q{i:04d}"
            self.at(when, functools.partial(self.short_call, sid, call_rng))
        # the scheduler's sweeps, once a day in the evening
        self.at(_at(day, 23.9), self.sweeps)

    async def sweeps(self) -> None:
        await sweep_deadlines(self.ctx)
        await ratings.sweep(self.ctx)
        await hotspots.refresh(self.ctx)

    # -- contacts --------------------------------------------------------------------------------

    async def short_call(self, sid: str, rng: random.Random) -> None:
        phone = _citizen(rng).phone or "+8637220000000"
        await calls.call_arrived(self.ctx, sid, phone, "12345")
        self.report.calls += 1
        if rng.random() < 0.6:
            await calls.set_stage(self.ctx, sid, "query")
            self.at(self.now() + timedelta(seconds=rng.uniform(30, 90)), lambda: self.hang_up(sid))
        else:
            await calls.enqueue(self.ctx, sid)
            wait = rng.uniform(20, 120)
            self.at(self.now() + timedelta(seconds=wait), lambda: self.abandon(sid))

    async def hang_up(self, sid: str) -> None:
        await calls.call_status(self.ctx, sid, "completed")

    async def abandon(self, sid: str) -> None:
        await calls.queue_left(self.ctx, sid, "hangup")
        await calls.call_status(self.ctx, sid, "completed")

    async def call(self, m: Matter, when: datetime) -> None:
        sid = f"{CALL_PREFIX}{m.ref.removeprefix(REF_PREFIX)}"
        phone = m.citizen.phone or "+8637220000000"
        await calls.call_arrived(self.ctx, sid, phone, "12345")
        self.report.calls += 1
        menu = m.rng.uniform(8, 30)
        self.at(when + timedelta(seconds=menu), lambda: calls.enqueue(self.ctx, sid))
        # most callers are answered within 15 s; a few wait longer, some give up
        wait = m.rng.expovariate(1 / 8) if m.rng.random() < 0.85 else m.rng.uniform(15, 90)
        queued = when + timedelta(seconds=menu)
        if m.rng.random() < 0.06:
            self.at(queued + timedelta(seconds=wait), lambda: self.abandon(sid))
            return
        answered = queued + timedelta(seconds=wait)
        talk = m.rng.uniform(90, 420)
        agent = self.agent_ids[m.index % len(self.agent_ids)] if self.agent_ids else None
        if agent is not None:
            self.at(answered, lambda: self.answer(sid, agent))
        self.at(answered + timedelta(seconds=talk * 0.8), lambda: self.register_call(m, sid))
        self.at(answered + timedelta(seconds=talk), lambda: self.hang_up(sid))

    async def answer(self, sid: str, agent: int) -> None:
        await calls.agent_answered(self.ctx, sid, agent, f"{sid}-agent")

    async def register_call(self, m: Matter, sid: str) -> None:
        """The agent registers the call's ticket, classified as they heard it."""
        result = await take_in(
            self.ctx,
            IntakeValue(
                channel=Channel.PHONE,
                channel_ref=sid,
                received_at=self.now(),
                content=m.content,
                type=m.type,
                category=m.category,
                division=m.county,
                street=m.street,
                phone=m.citizen.phone,
                name=m.citizen.name,
                real_name=m.citizen.name is not None,
                confidential=m.confidential,
                payload={"CallSid": sid, "seed": "history"},
            ),
            CENTRE,
        )
        m.number = result.number
        self.report.tickets += 1
        if m.type is TicketType.CONSULTATION and m.rng.random() < 0.75:
            await perform(self.ctx, m.number, AnswerDirectly(m.rng.choice(ANSWERS)), CENTRE)
            return
        await self.dispatch(m)

    async def write_in(self, m: Matter) -> None:
        payload: dict[str, str] = {"seed": "history"}
        if m.channel is Channel.WECHAT and m.citizen.openid:
            payload = {**payload, "FromUserName": m.citizen.openid, "MsgId": m.ref}
        result = await take_in(
            self.ctx,
            IntakeValue(
                channel=m.channel,
                channel_ref=m.ref,
                received_at=self.now(),
                content=m.content,
                title=m.content[:20] if m.channel is Channel.MAILBOX else None,
                phone=None if m.channel is Channel.WECHAT else m.citizen.phone,
                name=m.citizen.name if m.channel is Channel.MAILBOX else None,
                real_name=m.channel is Channel.MAILBOX and m.citizen.name is not None,
                confidential=m.confidential,
                payload=payload,
            ),
        )
        m.number = result.number
        self.report.tickets += 1
        routed = await auto_route(self.ctx, m.number)
        if routed.outcome == "dispatched":
            await self.after_dispatch(m)
            return
        # the agent looks at it within the hour
        self.at(self.now() + timedelta(minutes=m.rng.uniform(5, 60)), lambda: self.triage(m))

    async def triage(self, m: Matter) -> None:
        assert m.number is not None  # noqa: S101
        state = await read_state(self.ctx, m.number)
        if state.status not in (Status.RECEIVED, Status.AWAITING_DISPATCH):
            return
        if m.rng.random() < 0.05:
            await perform(
                self.ctx,
                m.number,
                Reject(
                    RejectReason.NOT_GOVERNMENT_SERVICE,
                    "该事项不属于政务服务范围，建议通过法律途径解决。",
                ),
                CENTRE,
            )
            return
        c = state.classification
        amend = Amend(
            type=None if c.type else m.type,
            category=m.category if c.category != m.category else None,
            division=m.county if c.division != m.county else None,
            street=m.street if m.street and c.street != m.street else None,
            confidential=True if m.confidential and not c.confidential else None,
        )
        with contextlib.suppress(InvalidField):  # nothing to change: the engine had it right
            await perform(self.ctx, m.number, amend, CENTRE)
        await self.dispatch(m)

    # -- handling --------------------------------------------------------------------------------

    async def dispatch(self, m: Matter) -> None:
        assert m.number is not None  # noqa: S101
        decision = await route_ticket(self.ctx, m.number)
        lead = decision.department or f"GOV-{m.county}"
        await dispatch_to(self.ctx, m.number, lead, CENTRE, list(decision.co_handlers))
        await self.after_dispatch(m)

    async def after_dispatch(self, m: Matter) -> None:
        assert m.number is not None  # noqa: S101
        state = await read_state(self.ctx, m.number)
        lead = state.lead
        if lead is None:
            return
        m.lead = lead.department
        now = self.now()
        rng = m.rng
        if rng.random() < 0.05 and state.reopen_count == 0:
            self.at(now + timedelta(hours=rng.uniform(1, 20)), lambda: self.give_back(m))
            return
        late_sign = rng.random() < 0.1
        sign_in = rng.uniform(2.2, 10) if late_sign else rng.uniform(0.1, 1.8)
        self.at(now + timedelta(hours=sign_in), lambda: self.sign(m))

    async def give_back(self, m: Matter) -> None:
        """退回: the unit says it is not its duty; the centre sends it to the territory."""
        assert m.number is not None and m.lead is not None  # noqa: S101
        unit = m.lead
        request_id, _ = await request_return(
            self.ctx,
            m.number,
            unit,
            "经核实，该事项不属于本单位职责范围，请重新派单。",
            _unit(unit),
        )
        other = f"GOV-{m.county}" if unit != f"GOV-{m.county}" else "CGJ"

        async def decide() -> None:
            await decide_return(self.ctx, request_id, True, SUPERVISOR, department=other)
            await self.after_dispatch(m)

        self.at(self.now() + timedelta(hours=m.rng.uniform(0.5, 4)), decide)

    async def sign(self, m: Matter) -> None:
        assert m.number is not None and m.lead is not None  # noqa: S101
        await perform(self.ctx, m.number, Sign(m.lead), _unit(m.lead))
        state = await read_state(self.ctx, m.number)
        lead = state.lead
        if lead is None:
            return
        rng, now = m.rng, self.now()
        roll = rng.random()
        if roll < 0.07:
            ask = max(now + timedelta(hours=2), lead.due_at - timedelta(hours=rng.uniform(8, 30)))
            self.at(ask, lambda: self.extend(m))
        elif roll < 0.10:
            self.at(now + timedelta(hours=rng.uniform(4, 30)), lambda: self.suspend(m))
        else:
            self.at(self._reply_time(m, now, lead.due_at), lambda: self.reply(m))

    def _reply_time(self, m: Matter, since: datetime, due: datetime) -> datetime:
        if m.rng.random() < 0.14:
            return due + timedelta(hours=m.rng.uniform(2, 72))
        # most units answer within a day or three; a few take nearly all the time they have
        span = max((due - since).total_seconds(), 7200.0)
        return since + timedelta(seconds=span * min(0.97, 0.05 + m.rng.betavariate(1.2, 3.5)))

    async def extend(self, m: Matter) -> None:
        assert m.number is not None and m.lead is not None  # noqa: S101
        request_id, _ = await request_extension(
            self.ctx,
            m.number,
            m.lead,
            "情况复杂，需协调多个部门现场处置。",
            "单位负责人",
            _unit(m.lead),
        )

        async def decide() -> None:
            assert m.number is not None  # noqa: S101
            await decide_extension(self.ctx, request_id, m.rng.random() < 0.9, SUPERVISOR, None)
            state = await read_state(self.ctx, m.number)
            if state.lead is not None:
                self.at(self._reply_time(m, self.now(), state.lead.due_at), lambda: self.reply(m))

        self.at(self.now() + timedelta(hours=m.rng.uniform(1, 5)), decide)

    async def suspend(self, m: Matter) -> None:
        assert m.number is not None and m.lead is not None  # noqa: S101
        days = m.rng.uniform(2, 6)
        await perform(
            self.ctx,
            m.number,
            Suspend(
                m.lead,
                "已现场查看，需申请专项资金",
                "资金到位后立即施工",
                self.now() + timedelta(days=days + 1),
            ),
            _unit(m.lead),
        )

        async def resume() -> None:
            assert m.number is not None  # noqa: S101
            await perform(self.ctx, m.number, Resume("资金已到位，恢复办理"), _unit(m.lead or ""))
            self.at(self.now() + timedelta(hours=m.rng.uniform(4, 48)), lambda: self.reply(m))

        self.at(self.now() + timedelta(days=days), resume)

    async def reply(self, m: Matter) -> None:
        assert m.number is not None and m.lead is not None  # noqa: S101
        who = "来电人"
        name = "工作人员"
        if m.citizen.name:
            who = m.citizen.name[0] + m.rng.choice(("先生", "女士"))
            name = m.citizen.name
        text = m.rng.choice(REPLIES).format(who=who, name=name)
        await perform(self.ctx, m.number, Reply(m.lead, text, True), _unit(m.lead))
        state = await read_state(self.ctx, m.number)
        if state.status is not Status.REPLIED or m.channel is Channel.PLATFORM:
            return
        if m.rng.random() < 0.75:
            replied = [a for a in state.assignments if a.replied_at is not None]
            latest = max(replied, key=lambda a: a.replied_at or a.dispatched_at, default=None)
            late = (
                latest is not None
                and latest.replied_at is not None
                and (latest.replied_at > latest.due_at)
            )
            level = _level(m.rng, late, state)
            self.at(
                self.now() + timedelta(hours=m.rng.uniform(0.2, 40)), lambda: self.rate(m, level)
            )

    async def rate(self, m: Matter, level: int) -> None:
        """The citizen rates the reply (SMS digit, WeChat, survey call or mailbox page)."""
        assert m.number is not None  # noqa: S101
        channel = {
            Channel.WECHAT: "wechat",
            Channel.MAILBOX: "mailbox" if not m.citizen.phone else "sms",
        }.get(m.channel, "sms" if m.citizen.phone and not _landline(m.citizen.phone) else "phone")
        rating = await rate_reply(self.ctx, m.number, level, channel, f"{m.ref}-rating")
        self.report.ratings += 1
        if not rating.bad:
            if m.rng.random() < 0.15:
                self.at(
                    self.now() + timedelta(days=m.rng.uniform(1, 3)), lambda: self.visit(m, None)
                )
            return
        review = await _review_of(self.ctx, rating.id)
        rng = m.rng
        if rating.real_name and review is not None and m.lead and rng.random() < 0.85:
            self.at(
                self.now() + timedelta(hours=rng.uniform(2, 20)),
                lambda: self.contact(review, m.lead or ""),
            )
        if rng.random() < 0.15 and m.lead:
            self.at(
                self.now() + timedelta(hours=rng.uniform(2, 24)), lambda: self.appeal(m, rating.id)
            )
        if review is not None:
            self.at(
                self.now() + timedelta(hours=rng.uniform(2, 20)), lambda: self.review(m, review)
            )

    async def contact(self, review_id: int, unit: str) -> None:
        await ratings.record_unit_contact(
            self.ctx, review_id, unit, "已电话联系市民，了解具体诉求。"
        )

    async def appeal(self, m: Matter, rating_id: int) -> None:
        made = await ratings.appeal(
            self.ctx, rating_id, m.lead or "", "市民评价与办理事实不符，已提供现场照片。"
        )

        async def decide() -> None:
            await ratings.decide_appeal(
                self.ctx, made.id, uphold=m.rng.random() < 0.5, note="经核查", actor=SUPERVISOR
            )

        self.at(self.now() + timedelta(hours=m.rng.uniform(4, 48)), decide)

    async def review(self, m: Matter, review_id: int) -> None:
        assert m.number is not None  # noqa: S101
        rectify = m.rng.random() < 0.5 and (await read_state(self.ctx, m.number)).reopen_count == 0
        await ratings.decide_review(
            self.ctx,
            review_id,
            rectify=rectify,
            note="责令承办单位重新办理" if rectify else "已向市民解释说明政策规定",
            actor=SUPERVISOR,
        )
        if rectify:
            await self.after_dispatch(m)
        else:
            self.at(self.now() + timedelta(hours=m.rng.uniform(4, 30)), lambda: self.visit(m, 3))

    async def visit(self, m: Matter, level: int | None) -> None:
        assert m.number is not None  # noqa: S101
        reached = m.rng.random() < 0.9
        await ratings.return_visit(
            self.ctx,
            m.number,
            reached=reached,
            reply_true=(m.rng.random() < 0.93) if reached else None,
            level=level if reached else None,
            note=None,
            actor=CENTRE,
        )
        if not reached and level is not None:
            self.at(self.now() + timedelta(days=1), lambda: self.visit(m, level))

    def now(self) -> datetime:
        return self.clock.now()


async def rate_reply(
    ctx: Context, number: str, level: int, channel: str, source_ref: str
) -> Rating:
    """The one place the history rates a reply (``hotline.services.ratings``)."""
    return await ratings.rate(ctx, number, level, channel=channel, source_ref=source_ref)


async def _review_of(ctx: Context, rating_id: int) -> int | None:
    async with ctx.db.sessions() as session:
        return await session.scalar(
            select(BadRatingReview.id).where(BadRatingReview.rating_id == rating_id)
        )


def _unit(code: str) -> Actor:
    return Actor(ActorKind.DEPARTMENT, f"seed-{code}", code)


def _landline(e164: str) -> bool:
    return not e164.startswith("+861")


def _level(rng: random.Random, late: bool, state: TicketState) -> int:
    if state.reopen_count > 0:  # after a rectification most are content
        weights = {1: 35, 2: 35, 3: 18, 4: 8, 5: 4}
    elif late:
        weights = {1: 15, 2: 25, 3: 25, 4: 20, 5: 15}
    else:
        weights = {1: 45, 2: 28, 3: 14, 4: 8, 5: 5}
    return _weighted(rng, weights)


def _weighted(rng: random.Random, weights: dict[K, int]) -> K:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _county(rng: random.Random, counties: list[str]) -> str:
    # the urban districts see most of the work
    weights = {
        code: (5 if code in ("410502", "410503", "410505", "410506") else 2) for code in counties
    }
    return _weighted(rng, weights)


def _hour_of_day(rng: random.Random) -> float:
    roll = rng.random()
    if roll < 0.08:
        return rng.uniform(0, 7.5)  # the hotline answers around the clock
    if roll < 0.55:
        return rng.uniform(8, 12)
    if roll < 0.92:
        return rng.uniform(13.5, 18)
    return rng.uniform(18, 23.5)


def _citizen(rng: random.Random) -> Citizen:
    if rng.random() < 0.08:
        phone = f"+86372{rng.randint(2000000, 5999999)}"
    else:
        phone = f"+86{rng.choice(MOBILE_PREFIXES)}{rng.randint(0, 99999999):08d}"
    name = None
    if rng.random() < 0.4:
        name = rng.choice(SURNAMES) + rng.choice(GIVEN)
    openid = f"oHIST{rng.getrandbits(64):016x}"
    return Citizen(phone, name, openid)


# -- the run -------------------------------------------------------------------------------------


async def seeded_days(ctx: Context) -> set[date]:
    """Days that already have seeded contacts."""
    async with ctx.db.sessions() as session:
        refs = await session.scalars(
            select(Contact.channel_ref).where(
                or_(
                    Contact.channel_ref.startswith(REF_PREFIX),
                    Contact.channel_ref.startswith(CALL_PREFIX),
                )
            )
        )
        days = set()
        for ref in refs:
            stamp = ref.removeprefix(CALL_PREFIX).removeprefix(REF_PREFIX)[:8]
            try:
                days.add(datetime.strptime(stamp, "%Y%m%d").replace(tzinfo=SHANGHAI).date())
            except ValueError:
                continue
    return days


async def seed_history(
    ctx: Context,
    days: int,
    *,
    seed: int = DEFAULT_SEED,
    per_day: int = DEFAULT_PER_DAY,
    progress: Callable[[date], None] | None = None,
) -> HistoryReport:
    """Seed the ``days`` days before today (``ctx.clock``'s today), skipping seeded ones."""
    limit = ctx.clock.now()
    today = local_day(limit)
    wanted = [today - timedelta(days=n) for n in range(days, 0, -1)]
    report = HistoryReport()
    done = await seeded_days(ctx)
    clock = FixedClock(_at(wanted[0], 0))
    sim = Simulation(replace(ctx, clock=clock), clock, limit, seed, report)
    sim.ref = await ctx.reference.get()
    async with ctx.db.sessions() as session:
        sim.agent_ids = list(
            await session.scalars(select(User.id).where(User.role == "agent").order_by(User.id))
        )
    for day in wanted:
        if day in done:
            report.days_skipped.append(day)
        else:
            sim.plan_day(day, per_day)
            report.days_seeded.append(day)
        await sim.run_until(_at(day + timedelta(days=1), 0))
        if progress is not None:
            progress(day)
    if report.days_seeded:
        sim.at(limit - timedelta(seconds=1), sim.sweeps)
    await sim.run_until(limit + timedelta(seconds=1))
    await _silence(ctx)
    return report


async def _silence(ctx: Context) -> None:
    """Nothing of the history reaches a citizen or a unit: its queued messages are cancelled."""
    seeded = select(Contact.ticket_id).where(
        or_(
            Contact.channel_ref.startswith(REF_PREFIX), Contact.channel_ref.startswith(CALL_PREFIX)
        ),
        Contact.ticket_id.is_not(None),
    )
    async with ctx.db.sessions() as session, session.begin():
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == "pending", OutboxMessage.ticket_id.in_(seeded))
            .values(status="cancelled", last_error="演示历史数据，不发送")
        )
