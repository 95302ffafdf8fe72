"""The console's use cases: sign-in sessions with throttling, and the reads behind its pages
(caller history for the screen pop, the triage queue, the wallboard, the department desk, the
supervisor's lists). Actions on tickets go through the lifecycle and dispatch services, as the
JSON API's do; nothing here changes a ticket.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import itertools
import math
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Protocol

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch import service as dispatching
from dispatch.auto import suggest_for
from dispatch.routing import Suggestion
from hotline.calendar import SHANGHAI, local_day
from hotline.domain.errors import InvalidField
from hotline.domain.lifecycle import Actor, Amend
from hotline.domain.phones import normalise_phone
from hotline.domain.vocabulary import (
    AT_CENTRE,
    FINAL_STATUSES,
    OPEN_STATUSES,
    WITH_DEPARTMENT,
    AssignmentStatus,
    Status,
    TicketType,
    Urgency,
)
from hotline.services import queries, tickets
from hotline.services.context import Context
from hotline.services.passwords import hash_password, verify_password
from hotline.storage.calls import AgentState, Call, TransferAttempt
from hotline.storage.citizens import Citizen
from hotline.storage.console import ConsoleSession, LoginAttempt
from hotline.storage.hotspots import Hotspot
from hotline.storage.tickets import (
    Assignment,
    ExtensionRequest,
    ReturnRequest,
    Ticket,
    TicketEvent,
)
from hotline.storage.users import User
from ivr.calls import STAGES

#: a session's last_seen_at is written at most this often (SQLite has one writer)
TOUCH_EVERY = timedelta(seconds=60)
#: live calls older than this are not shown (a call whose hang-up never reached us)
LIVE_CALL_HOURS = 4
ACTIVE_ASSIGNMENT = [s.value for s in AssignmentStatus if s.is_active]
LIVE_STAGES = [stage for stage in STAGES if stage != "ended"]
#: "any time": a bounded range on an indexed time lets SQLite, which keeps no histograms, see
#: that ``status IN (open statuses) AND due_at BETWEEN ...`` is selective and use the
#: (status, due_at) index; without it a page's cost grew with the closed history
ALL_TIME = (datetime(2000, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC))
OPEN = [s.value for s in OPEN_STATUSES]
FINAL = [s.value for s in FINAL_STATUSES]
HOLDING = [s.value for s in WITH_DEPARTMENT]

# -- sessions and sign-in ----------------------------------------------------------------------


@dataclass(frozen=True)
class SessionUser:
    """A signed-in console user, as a request sees them."""

    session_id: str
    user_id: int
    username: str
    display_name: str
    role: str  # agent | supervisor | department | admin
    department: str | None
    expires_at: datetime


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in: a user and the cookie's token, or why not."""

    user: SessionUser | None = None
    token: str | None = None
    #: seconds until the user name or address may try again (throttled)
    retry_after: int | None = None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so timing does not tell who does."""
    return hash_password(secrets.token_urlsafe(16))


async def _lock_left(
    session: AsyncSession,
    where: ColumnElement[bool],
    since: datetime,
    limit: int,
    now: datetime,
    window: timedelta,
) -> int | None:
    """Seconds left of a lock: ``limit`` failures since ``since`` lock until the oldest of them
    leaves the window."""
    failures = list(
        await session.scalars(
            select(LoginAttempt.at)
            .where(where, LoginAttempt.success.is_(False), LoginAttempt.at >= since)
            .order_by(LoginAttempt.at.desc())
            .limit(limit)
        )
    )
    if len(failures) < limit:
        return None
    return max(1, math.ceil((failures[-1] + window - now).total_seconds()))


async def throttled(ctx: Context, username: str, ip: str) -> int | None:
    """Seconds until this user name or address may try to sign in again, or None."""
    cfg = ctx.config.console
    now = ctx.clock.now()
    window = timedelta(minutes=cfg.login_window_minutes)
    async with ctx.db.sessions() as session:
        last_ok = await session.scalar(
            select(func.max(LoginAttempt.at)).where(
                LoginAttempt.username == username, LoginAttempt.success.is_(True)
            )
        )
        since = max(now - window, last_ok) if last_ok is not None else now - window
        by_user = await _lock_left(
            session, LoginAttempt.username == username, since, cfg.login_max_failures, now, window
        )
        by_ip = await _lock_left(
            session, LoginAttempt.ip == ip, now - window, cfg.login_max_failures_per_ip, now, window
        )
    waits = [w for w in (by_user, by_ip) if w is not None]
    return max(waits) if waits else None


async def sign_in(
    ctx: Context, username: str, password: str, *, ip: str, user_agent: str | None = None
) -> SignIn:
    """Check the password (argon2, off the event loop) and open a session.

    Every attempt is recorded; too many failures for a user name or from an address within
    ``console.login_window_minutes`` refuse further attempts until the window has passed.
    """
    username = username.strip()[:64]
    ip = ip[:64]
    wait = await throttled(ctx, username, ip)
    if wait is not None:
        return SignIn(retry_after=wait)
    async with ctx.db.sessions() as session:
        user = await session.scalar(select(User).where(User.username == username))
    stored = user.password_hash if user is not None and user.active else _dummy_hash()
    ok = await asyncio.to_thread(verify_password, stored, password)
    ok = ok and user is not None and user.active
    now = ctx.clock.now()
    cfg = ctx.config.console
    token = secrets.token_urlsafe(32)
    async with ctx.db.sessions() as session, session.begin():
        session.add(LoginAttempt(username=username, ip=ip, at=now, success=ok))
        # housekeeping, cheap with the indexes: old attempts and ended sessions
        keep = timedelta(minutes=cfg.login_window_minutes) * 2
        await session.execute(delete(LoginAttempt).where(LoginAttempt.at < now - keep))
        await session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now))
        if not ok or user is None:
            return SignIn()
        row = ConsoleSession(
            id=hash_token(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=cfg.session_hours),
            ip=ip,
            user_agent=(user_agent or "")[:200] or None,
        )
        session.add(row)
    return SignIn(user=_session_user(row, user), token=token)


def _session_user(row: ConsoleSession, user: User) -> SessionUser:
    return SessionUser(
        session_id=row.id,
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        department=user.department_code,
        expires_at=row.expires_at,
    )


async def resolve(ctx: Context, token: str) -> SessionUser | None:
    """The user of a session token, if the session is alive and the user still active."""
    sid = hash_token(token)
    now = ctx.clock.now()
    idle = timedelta(minutes=ctx.config.console.idle_minutes)
    async with ctx.db.sessions() as session:
        found = (
            await session.execute(
                select(ConsoleSession, User)
                .join(User, User.id == ConsoleSession.user_id)
                .where(ConsoleSession.id == sid)
            )
        ).first()
    if found is None:
        return None
    row, user = found
    if not user.active or row.expires_at <= now or row.last_seen_at + idle <= now:
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        await touch(ctx, sid)
    return _session_user(row, user)


async def touch(ctx: Context, session_id: str) -> None:
    """The session is in use (a request, or an open page's WebSocket)."""
    async with ctx.db.sessions() as session, session.begin():
        await session.execute(
            update(ConsoleSession)
            .where(ConsoleSession.id == session_id)
            .values(last_seen_at=ctx.clock.now())
        )


async def sign_out(ctx: Context, session_id: str) -> None:
    async with ctx.db.sessions() as session, session.begin():
        await session.execute(delete(ConsoleSession).where(ConsoleSession.id == session_id))


# -- tickets as rows ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketLine:
    """A ticket as one row of a list (the whole ticket is on its own page)."""

    id: int
    number: str
    status: str
    status_label: str
    type: str | None
    category: str | None
    division: str | None
    street: str | None
    title: str | None
    content: str
    address: str | None
    channel: str
    urgent: bool
    confidential: bool
    supervision_level: int
    repeat_count: int
    created_at: datetime
    due_at: datetime | None
    overdue: bool
    citizen_id: int | None
    version: int
    #: active lead unit(s), then co-handlers
    departments: tuple[str, ...]
    triage_reasons: tuple[str, ...]


def _line(t: Ticket, departments: Sequence[str], now: datetime) -> TicketLine:
    status = Status(t.status)
    return TicketLine(
        id=t.id,
        number=t.number,
        status=t.status,
        status_label=status.label,
        type=t.type,
        category=t.category_code,
        division=t.division_code,
        street=t.street_code,
        title=t.title,
        content=t.content,
        address=t.address,
        channel=t.origin_channel,
        urgent=t.urgency == "urgent",
        confidential=t.confidential,
        supervision_level=t.supervision_level,
        repeat_count=t.repeat_count,
        created_at=t.created_at,
        due_at=t.due_at,
        overdue=bool(t.due_at is not None and t.due_at < now and status in OPEN_STATUSES),
        citizen_id=t.citizen_id,
        version=t.version,
        departments=tuple(departments),
        triage_reasons=tuple(str(r) for r in (t.triage_reasons or [])),
    )


async def _lines(
    session: AsyncSession, tickets: Sequence[Ticket], now: datetime
) -> list[TicketLine]:
    ids = [t.id for t in tickets]
    units: dict[int, list[tuple[int, str]]] = {i: [] for i in ids}
    if ids:
        rows = await session.execute(
            select(Assignment.ticket_id, Assignment.department_code, Assignment.role).where(
                Assignment.ticket_id.in_(ids), Assignment.status.in_(ACTIVE_ASSIGNMENT)
            )
        )
        for r in rows:
            units[r.ticket_id].append((0 if r.role == "lead" else 1, r.department_code))
    return [_line(t, [d for _, d in sorted(units[t.id])], now) for t in tickets]


# -- the agent desk ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CallView:
    call_sid: str
    from_number: str
    stage: str
    status: str
    priority: int
    priority_reasons: tuple[str, ...]
    arrived_at: datetime
    queued_at: datetime | None
    answered_at: datetime | None
    agent_id: int | None
    agent_name: str | None
    ticket: str | None
    transfers: tuple[TransferView, ...] = ()


@dataclass(frozen=True)
class TransferView:
    id: str
    target: str
    result: str
    via: str
    started_at: datetime


@dataclass(frozen=True)
class CallerHistory:
    """The screen pop: who is calling and what they asked us before."""

    phone: str | None
    phone_e164: str | None
    call: CallView | None
    name: str | None
    needs_assistance: bool
    open_tickets: list[TicketLine]
    past_tickets: list[TicketLine]
    calls_30_days: int


def _call_view(
    call: Call, agent_name: str | None, ticket: str | None, transfers: Iterable[TransferAttempt]
) -> CallView:
    return CallView(
        call_sid=call.call_sid,
        from_number=call.from_number,
        stage=call.stage,
        status=call.status,
        priority=call.priority,
        priority_reasons=tuple(str(r) for r in call.priority_reasons or []),
        arrived_at=call.arrived_at,
        queued_at=call.queued_at,
        answered_at=call.answered_at,
        agent_id=call.agent_id,
        agent_name=agent_name,
        ticket=ticket,
        transfers=tuple(
            TransferView(a.id, a.target, a.result, a.via, a.started_at) for a in transfers
        ),
    )


async def caller_history(
    ctx: Context, *, call_sid: str | None = None, phone: str | None = None, limit: int = 10
) -> CallerHistory:
    """The caller's open and past tickets, by the call's number or a number typed in."""
    now = ctx.clock.now()
    async with ctx.db.sessions() as session:
        call_view = None
        citizen: Citizen | None = None
        e164: str | None = None
        shown = phone
        if call_sid is not None:
            call = await session.get(Call, call_sid)
            if call is not None:
                agent_name = None
                if call.agent_id is not None:
                    agent_name = await session.scalar(
                        select(User.display_name).where(User.id == call.agent_id)
                    )
                ticket = None
                if call.ticket_id is not None:
                    ticket = await session.scalar(
                        select(Ticket.number).where(Ticket.id == call.ticket_id)
                    )
                transfers = await session.scalars(
                    select(TransferAttempt)
                    .where(TransferAttempt.call_sid == call_sid)
                    .order_by(TransferAttempt.started_at, TransferAttempt.id)
                )
                call_view = _call_view(call, agent_name, ticket, transfers)
                e164 = call.from_e164
                shown = call.from_number
                if call.citizen_id is not None:
                    citizen = await session.get(Citizen, call.citizen_id)
        elif phone:
            e164 = normalise_phone(phone, ctx.config.city.phone_region).e164
        if citizen is None and e164 is not None:
            citizen = await session.scalar(select(Citizen).where(Citizen.phone == e164))
        open_tickets: list[TicketLine] = []
        past: list[TicketLine] = []
        if citizen is not None:
            base = select(Ticket).where(Ticket.citizen_id == citizen.id).order_by(Ticket.id.desc())
            open_rows = list(await session.scalars(base.where(Ticket.status.in_(OPEN)).limit(20)))
            past_rows = list(
                await session.scalars(base.where(Ticket.status.in_(FINAL)).limit(limit))
            )
            open_tickets = await _lines(session, open_rows, now)
            past = await _lines(session, past_rows, now)
        calls = 0
        if e164 is not None:
            calls = int(
                await session.scalar(
                    select(func.count())
                    .select_from(Call)
                    .where(Call.from_e164 == e164, Call.arrived_at >= now - timedelta(days=30))
                )
                or 0
            )
    return CallerHistory(
        phone=shown,
        phone_e164=e164,
        call=call_view,
        name=citizen.name if citizen is not None else None,
        needs_assistance=bool(citizen and citizen.needs_assistance),
        open_tickets=open_tickets,
        past_tickets=past,
        calls_30_days=calls,
    )


@dataclass(frozen=True)
class DeskState:
    state: str
    since: datetime | None
    phone: str | None
    client_identity: str | None
    call: CallView | None


async def desk_state(ctx: Context, user_id: int) -> DeskState:
    async with ctx.db.sessions() as session:
        agent = await session.get(AgentState, user_id)
        call_view = None
        if agent is not None and agent.current_call_sid:
            call = await session.get(Call, agent.current_call_sid)
            if call is not None and call.stage != "ended":
                call_view = _call_view(call, None, None, ())
    if agent is None:
        return DeskState("offline", None, None, None, None)
    return DeskState(agent.state, agent.state_since, agent.phone, agent.client_identity, call_view)


async def live_calls(ctx: Context) -> list[CallView]:
    """Calls not ended yet, longest waiting first."""
    since = ctx.clock.now() - timedelta(hours=LIVE_CALL_HOURS)
    async with ctx.db.sessions() as session:
        rows = await session.execute(
            select(Call, User.display_name)
            .outerjoin(User, User.id == Call.agent_id)
            .where(Call.stage.in_(LIVE_STAGES), Call.arrived_at >= since)
            .order_by(Call.arrived_at)
            .limit(100)
        )
        return [_call_view(call, name, None, ()) for call, name in rows]


async def agent_board(ctx: Context) -> list[tuple[User, AgentState]]:
    async with ctx.db.sessions() as session:
        rows = await session.execute(
            select(User, AgentState)
            .join(AgentState, AgentState.user_id == User.id)
            .where(User.active.is_(True))
            .order_by(AgentState.state, User.username)
        )
        return [(u, a) for u, a in rows]


# -- the triage queue --------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueItem:
    line: TicketLine
    #: why it waits for a person: the routing engine's note when it left it here
    note: str | None


async def triage_queue(ctx: Context, *, limit: int = 50) -> tuple[list[QueueItem], int]:
    """Tickets waiting at the centre (待分流, 待派单): urgent first, then oldest first; and how
    many wait in all."""
    now = ctx.clock.now()
    waiting = [s.value for s in AT_CENTRE]
    async with ctx.db.sessions() as session:
        tickets = list(
            await session.scalars(
                select(Ticket)
                .where(Ticket.status.in_(waiting))
                .order_by((Ticket.urgency == "urgent").desc(), Ticket.id)
                .limit(limit)
            )
        )
        total = int(
            await session.scalar(
                select(func.count()).select_from(Ticket).where(Ticket.status.in_(waiting))
            )
            or 0
        )
        notes: dict[int, str] = {}
        if tickets:
            rows = await session.execute(
                select(TicketEvent.ticket_id, TicketEvent.note)
                .where(
                    TicketEvent.ticket_id.in_([t.id for t in tickets]),
                    TicketEvent.action == "triaged",
                )
                .order_by(TicketEvent.seq)
            )
            notes = {r.ticket_id: r.note for r in rows if r.note}
        lines = await _lines(session, tickets, now)
    return [QueueItem(line, notes.get(line.id)) for line in lines], total


# -- search ------------------------------------------------------------------------------------


async def search_tickets(
    ctx: Context,
    *,
    text: str = "",
    status: str | None = None,
    department: str | None = None,
    scope_department: str | None = None,
    limit: int = 50,
) -> list[TicketLine]:
    """By number, by the citizen's phone, or by words of the content (last 90 days)."""
    now = ctx.clock.now()
    stmt = select(Ticket)
    text = text.strip()
    if text:
        phone = normalise_phone(text, ctx.config.city.phone_region)
        if text.upper().startswith(ctx.config.city.ticket_prefix) and "-" in text:
            stmt = stmt.where(Ticket.number == text.upper())
        elif phone.e164 is not None and sum(c.isdigit() for c in text) >= 7:
            stmt = stmt.join(Citizen, Citizen.id == Ticket.citizen_id).where(
                Citizen.phone == phone.e164
            )
        else:
            words = text.replace("%", "").replace("_", "")[:50]
            stmt = stmt.where(
                Ticket.created_at.between(now - timedelta(days=90), now + timedelta(days=1)),
                or_(Ticket.content.contains(words), Ticket.address.contains(words)),
            )
    if status:
        stmt = stmt.where(Ticket.status == status)
    for code in (department, scope_department):
        if code:
            stmt = stmt.where(
                select(Assignment.id)
                .where(Assignment.ticket_id == Ticket.id, Assignment.department_code == code)
                .exists()
            )
    stmt = stmt.order_by(Ticket.id.desc()).limit(limit)
    async with ctx.db.sessions() as session:
        tickets = list(await session.scalars(stmt))
        return await _lines(session, tickets, now)


# -- the wallboard -----------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitLoad:
    department: str
    open: int
    due_today: int
    near_due: int
    overdue: int


@dataclass(frozen=True)
class Wallboard:
    at: datetime
    calls_waiting: int
    longest_wait_seconds: float | None
    calls_with_agents: int
    agents_by_state: dict[str, int]
    answered_today: int
    answered_in_target_today: int
    answer_target_seconds: int
    abandoned_today: int
    offered_today: int
    tickets_today: int
    awaiting_dispatch: int
    due_today: int
    near_due: int
    overdue: int
    near_due_hours: int
    units: list[UnitLoad]

    @property
    def answer_rate(self) -> float | None:
        """Answered within the target (15 s) over answered, today."""
        if not self.answered_today:
            return None
        return self.answered_in_target_today / self.answered_today


async def wallboard(ctx: Context) -> Wallboard:
    now = ctx.clock.now()
    day = local_day(now)
    start = datetime.combine(day, time(0), tzinfo=SHANGHAI)
    end = start + timedelta(days=1)
    target = ctx.config.ivr.answer_target_seconds
    near = timedelta(hours=ctx.config.console.near_due_hours)
    async with ctx.db.sessions() as session:
        queued = (
            await session.execute(
                select(func.count(), func.min(Call.queued_at)).where(Call.stage == "queued")
            )
        ).one()
        with_agents = await session.scalar(
            select(func.count())
            .select_from(Call)
            .where(Call.stage.in_(("connecting", "with_agent", "conference")))
        )
        states = {
            state: int(count)
            for state, count in await session.execute(
                select(AgentState.state, func.count())
                .join(User, User.id == AgentState.user_id)
                .where(User.active.is_(True))
                .group_by(AgentState.state)
            )
        }
        today = (
            await session.execute(
                select(
                    func.count(),
                    func.count(Call.answered_at),
                    func.count(Call.answered_at).filter(Call.wait_seconds <= target),
                    func.count().filter(Call.abandoned.is_(True)),
                ).where(Call.arrived_at >= start, Call.arrived_at < end)
            )
        ).one()
        tickets_today = await session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.created_at >= start)
        )
        awaiting = await session.scalar(
            select(func.count())
            .select_from(Ticket)
            .where(Ticket.status.in_([s.value for s in AT_CENTRE]))
        )
        clocks = (
            await session.execute(
                select(
                    func.count().filter(Ticket.due_at >= now, Ticket.due_at < end),
                    func.count().filter(Ticket.due_at >= now, Ticket.due_at < now + near),
                    func.count().filter(Ticket.due_at < now),
                ).where(Ticket.status.in_(HOLDING), Ticket.due_at.is_not(None))
            )
        ).one()
        by_unit = await session.execute(
            select(
                Assignment.department_code,
                func.count(),
                func.count().filter(Assignment.due_at >= now, Assignment.due_at < end),
                func.count().filter(Assignment.due_at >= now, Assignment.due_at < now + near),
                func.count().filter(Assignment.due_at < now),
            )
            .where(
                Assignment.status.in_(ACTIVE_ASSIGNMENT),
                Assignment.due_at.between(*ALL_TIME),
                Assignment.role == "lead",
            )
            .group_by(Assignment.department_code)
        )
        units = sorted(
            (UnitLoad(r[0], r[1], r[2], r[3], r[4]) for r in by_unit),
            key=lambda u: (-u.overdue, -u.near_due, -u.open, u.department),
        )
    oldest = queued[1]
    return Wallboard(
        at=now,
        calls_waiting=int(queued[0] or 0),
        longest_wait_seconds=(now - oldest).total_seconds() if oldest is not None else None,
        calls_with_agents=int(with_agents or 0),
        agents_by_state={k: int(v) for k, v in states.items()},
        answered_today=int(today[1] or 0),
        answered_in_target_today=int(today[2] or 0),
        answer_target_seconds=target,
        abandoned_today=int(today[3] or 0),
        offered_today=int(today[0] or 0),
        tickets_today=int(tickets_today or 0),
        awaiting_dispatch=int(awaiting or 0),
        due_today=int(clocks[0] or 0),
        near_due=int(clocks[1] or 0),
        overdue=int(clocks[2] or 0),
        near_due_hours=ctx.config.console.near_due_hours,
        units=units,
    )


# -- the department desk -----------------------------------------------------------------------


@dataclass(frozen=True)
class DepartmentItem:
    line: TicketLine
    assignment_id: str
    role: str
    assignment_status: str
    dispatched_at: datetime
    sign_due_at: datetime
    return_due_at: datetime
    due_at: datetime
    signed_at: datetime | None
    overdue: bool
    sign_overdue: bool


async def department_tickets(
    ctx: Context, department: str, *, limit: int = 200
) -> list[DepartmentItem]:
    """The unit's active assignments, the nearest due time first."""
    now = ctx.clock.now()
    async with ctx.db.sessions() as session:
        rows = list(
            await session.execute(
                select(Assignment, Ticket)
                .join(Ticket, Ticket.id == Assignment.ticket_id)
                .where(
                    Assignment.department_code == department,
                    Assignment.status.in_(ACTIVE_ASSIGNMENT),
                )
                .order_by(Assignment.due_at, Assignment.id)
                .limit(limit)
            )
        )
        lines = await _lines(session, [t for _, t in rows], now)
    return [
        DepartmentItem(
            line=line,
            assignment_id=a.id,
            role=a.role,
            assignment_status=a.status,
            dispatched_at=a.dispatched_at,
            sign_due_at=a.sign_due_at,
            return_due_at=a.return_due_at,
            due_at=a.due_at,
            signed_at=a.signed_at,
            overdue=a.due_at < now,
            sign_overdue=a.signed_at is None and a.sign_due_at < now,
        )
        for (a, _), line in zip(rows, lines, strict=True)
    ]


# -- the supervisor's lists --------------------------------------------------------------------


@dataclass(frozen=True)
class PendingReturnItem:
    id: str
    line: TicketLine
    department: str
    reason: str
    requested_at: datetime
    needs_arbitration: bool


async def pending_returns(ctx: Context, *, limit: int = 100) -> list[PendingReturnItem]:
    now = ctx.clock.now()
    async with ctx.db.sessions() as session:
        rows = list(
            await session.execute(
                select(ReturnRequest, Ticket)
                .join(Ticket, Ticket.id == ReturnRequest.ticket_id)
                .where(ReturnRequest.status == "pending")
                .order_by(ReturnRequest.requested_at)
                .limit(limit)
            )
        )
        lines = await _lines(session, [t for _, t in rows], now)
    return [
        PendingReturnItem(
            r.id, line, r.department_code, r.reason, r.requested_at, r.needs_arbitration
        )
        for (r, _), line in zip(rows, lines, strict=True)
    ]


@dataclass(frozen=True)
class PendingExtensionItem:
    id: str
    line: TicketLine
    department: str
    reason: str
    approved_by: str
    requested_at: datetime
    old_due_at: datetime


async def pending_extensions(ctx: Context, *, limit: int = 100) -> list[PendingExtensionItem]:
    now = ctx.clock.now()
    async with ctx.db.sessions() as session:
        rows = list(
            await session.execute(
                select(ExtensionRequest, Ticket, Assignment.department_code)
                .join(Ticket, Ticket.id == ExtensionRequest.ticket_id)
                .join(Assignment, Assignment.id == ExtensionRequest.assignment_id)
                .where(ExtensionRequest.status == "pending")
                .order_by(ExtensionRequest.requested_at)
                .limit(limit)
            )
        )
        lines = await _lines(session, [t for _, t, _ in rows], now)
    return [
        PendingExtensionItem(
            e.id, line, dept, e.reason, e.approved_by, e.requested_at, e.old_due_at
        )
        for (e, _, dept), line in zip(rows, lines, strict=True)
    ]


def bigrams(text: str) -> set[str]:
    """Pairs of neighbouring characters, ignoring spaces and punctuation: good enough to see
    that two short Chinese texts tell the same story."""
    chars = [c for c in text if c.isalnum()]
    return {a + b for a, b in itertools.pairwise(chars)}


def similarity(a: str, b: str) -> float:
    x, y = bigrams(a), bigrams(b)
    if not x or not y:
        return 0.0
    return len(x & y) / len(x | y)


@dataclass(frozen=True)
class DuplicateCandidate:
    source: TicketLine
    target: TicketLine
    same_citizen: bool
    similarity: float


async def duplicate_candidates(ctx: Context, *, limit: int = 50) -> list[DuplicateCandidate]:
    """并单 candidates: a ticket still at the centre that repeats an older open ticket — the same
    citizen, or the same category and place with much the same words."""
    cfg = ctx.config.console
    now = ctx.clock.now()
    since = now - timedelta(days=cfg.duplicate_days)
    async with ctx.db.sessions() as session:
        sources = list(
            await session.scalars(
                select(Ticket)
                .where(Ticket.status.in_([s.value for s in AT_CENTRE]), Ticket.created_at >= since)
                .order_by(Ticket.id.desc())
                .limit(200)
            )
        )
        pool = list(
            await session.scalars(
                select(Ticket)
                .where(Ticket.status.in_(OPEN), Ticket.created_at >= since)
                .order_by(Ticket.id.desc())
                .limit(2000)
            )
        )
        found: list[tuple[Ticket, Ticket, bool, float]] = []
        for src in sources:
            best: tuple[Ticket, bool, float] | None = None
            for other in pool:
                if other.id >= src.id:
                    continue  # fold the newer into the older
                same_citizen = src.citizen_id is not None and src.citizen_id == other.citizen_id
                same_place = (
                    src.category_code is not None
                    and src.category_code == other.category_code
                    and src.division_code == other.division_code
                )
                if not (same_citizen or same_place):
                    continue
                score = similarity(src.content, other.content)
                if score < cfg.duplicate_similarity and not (same_citizen and score >= 0.2):
                    continue
                if best is None or (same_citizen, score) > (best[1], best[2]):
                    best = (other, same_citizen, score)
            if best is not None:
                found.append((src, best[0], best[1], best[2]))
            if len(found) >= limit:
                break
        lines = {
            line.id: line
            for line in await _lines(
                session, list({t.id: t for f in found for t in f[:2]}.values()), now
            )
        }
    return [
        DuplicateCandidate(lines[s.id], lines[t.id], same, round(score, 2))
        for s, t, same, score in found
    ]


async def escalation_list(ctx: Context, *, limit: int = 100) -> list[TicketLine]:
    """Tickets a unit holds that are overdue or near due (督办 candidates), most late first."""
    now = ctx.clock.now()
    near = now + timedelta(hours=ctx.config.console.near_due_hours)
    async with ctx.db.sessions() as session:
        tickets = list(
            await session.scalars(
                select(Ticket)
                .where(Ticket.status.in_(HOLDING), Ticket.due_at.is_not(None), Ticket.due_at < near)
                .order_by(Ticket.due_at)
                .limit(limit)
            )
        )
        return await _lines(session, tickets, now)


async def hotspot_list(ctx: Context, status: str = "open") -> list[Hotspot]:
    async with ctx.db.sessions() as session:
        return list(
            await session.scalars(
                select(Hotspot)
                .where(Hotspot.status == status)
                .order_by(Hotspot.reports.desc(), Hotspot.id)
                .limit(200)
            )
        )


async def last_change(ctx: Context, number: str) -> TicketEvent | None:
    """The ticket's latest history entry (who changed it last, for a conflict's message)."""
    async with ctx.db.sessions() as session:
        return await session.scalar(
            select(TicketEvent)
            .join(Ticket, Ticket.id == TicketEvent.ticket_id)
            .where(Ticket.number == number)
            .order_by(TicketEvent.seq.desc())
            .limit(1)
        )


# -- the console's two versioned edits ---------------------------------------------------------


class Written(Protocol):
    """What the engine reads of a ticket (a row, or a line of a list)."""

    @property
    def title(self) -> str | None: ...
    @property
    def content(self) -> str: ...
    @property
    def address(self) -> str | None: ...


async def suggestion_for(ctx: Context, line: Written) -> Suggestion | None:
    """The routing engine's suggestion for a ticket's text and address (None without text)."""
    text = "。".join(part for part in (line.title, line.content) if part)
    if not text.strip():
        return None
    return await suggest_for(ctx, text, line.address)


async def dispatch_chosen(
    ctx: Context,
    number: str,
    department: str,
    co_handlers: Sequence[str],
    actor: Actor,
    expected_version: int,
) -> None:
    """派单 to the unit the agent chose, recording on the history whether that accepted the
    engine's suggestion or overrode it. A ticket changed since ``expected_version``: 409."""
    view = await queries.get_ticket(ctx, number)
    found = await suggestion_for(ctx, view.ticket)
    if found is not None and found.decision is not None and found.department == department:
        rule = dispatching.rule_label(found.decision) + " accepted"
    elif found is not None and found.department:
        rule = f"manual (override of {found.department})"
    else:
        rule = "manual"
    await dispatching.dispatch_to(
        ctx, number, department, actor, co_handlers, rule=rule, expected_version=expected_version
    )


async def amend(
    ctx: Context,
    number: str,
    actor: Actor,
    expected_version: int,
    *,
    type: str | None = None,
    category: str | None = None,
    division: str | None = None,
    urgency: str | None = None,
    confidential: bool | None = None,
) -> None:
    """修改工单: type, category, place, urgency, confidentiality, checked against the reference
    data; a ticket changed since ``expected_version``: 409."""
    ref = await ctx.reference.get()
    ticket_type = None
    if type:
        try:
            ticket_type = TicketType.parse(type)
        except ValueError as exc:
            raise InvalidField("type", "未知的诉求类型") from exc
    if category and category not in ref.categories:
        raise InvalidField("category", f"未知的诉求分类: {category}")
    if division:
        county = ref.divisions.get(division)
        if county is None or county.level != "county":
            raise InvalidField("division", f"未知的行政区划: {division}")
    level = None
    if urgency:
        try:
            level = Urgency(urgency)
        except ValueError as exc:
            raise InvalidField("urgency", "必须是 normal 或 urgent") from exc
    change = Amend(
        type=ticket_type,
        category=category or None,
        division=division or None,
        urgency=level,
        confidential=confidential,
    )
    await tickets.perform(ctx, number, change, actor, expected_version=expected_version)
