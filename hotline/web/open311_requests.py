"""Tickets as Open311 service requests: the public read side of GeoReport v2.

Only what a stranger may see. A ticket is listed or fetched only when it is public:

* not confidential (保密), and its citizen never asked for confidentiality;
* not a 举报 (a report names someone; the reporter is protected by law);
* classified: a ticket whose type nobody has set yet may still turn out to be a 举报, so it
  waits for an agent, except one a client filed through Open311 itself (published on
  purpose, and the client must be able to read back what it created).

A hidden ticket is the same 404 as a missing one. Nothing of the citizen record is ever part
of a request, and the free text is redacted (:mod:`hotline.services.privacy`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, not_, or_, select
from sqlalchemy.orm import aliased, selectinload

from hotline.calendar import SHANGHAI, to_shanghai
from hotline.domain.vocabulary import (
    AT_CENTRE,
    FINAL_STATUSES,
    AssignmentStatus,
    Channel,
    Role,
    Status,
    TicketType,
)
from hotline.services.context import Context
from hotline.services.privacy import own_secrets, redact
from hotline.services.reference import ReferenceData
from hotline.storage.citizens import Citizen, Contact
from hotline.storage.tickets import Ticket
from hotline.web.api.serialize import iso
from hotline.web.open311_format import Open311Error

#: most requests one GET returns (GeoReport's recommended ceiling)
MAX_RESULTS = 1000
#: the default window and the widest one a client may ask for (GeoReport: 90 days)
WINDOW = timedelta(days=90)
#: contacts filed through Open311 carry ``open311:<token>`` as their channel_ref
REF_PREFIX = "open311:"
#: a ticket number is at most this long (longer ids cannot match: 404 without a query)
MAX_NUMBER = 32
#: the oldest and newest years a date filter may name (beyond them, date arithmetic overflows)
YEARS = (1970, 2999)

_STATUS_VALUES = {"open", "closed"}
_FINAL_VALUES = [s.value for s in FINAL_STATUSES]
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# "+08:00" sent unencoded in a query string arrives as " 08:00"
_SPACED_OFFSET = re.compile(r"^(.+\d) (\d{2}:?\d{2})$")


def channel_ref(token: str) -> str:
    return REF_PREFIX + token


def public() -> ColumnElement[bool]:
    """The SQL condition for a ticket any client may see (see the module's docstring)."""
    # an alias, so a query that joins contacts itself (tokens) does not correlate this one
    contact = aliased(Contact)
    filed_here = exists().where(
        contact.ticket_id == Ticket.id,
        contact.channel == Channel.PLATFORM.value,
        contact.channel_ref.startswith(REF_PREFIX),
    )
    citizen_wants_secrecy = exists().where(
        Citizen.id == Ticket.citizen_id, Citizen.wants_confidential.is_(True)
    )
    return and_(
        Ticket.confidential.is_(False),
        or_(Ticket.type != TicketType.REPORT.value, and_(Ticket.type.is_(None), filed_here)),
        not_(citizen_wants_secrecy),
    )


# -- the query ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestQuery:
    """GET requests' filters. ``numbers``, when given, overrides every other filter (spec)."""

    numbers: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    statuses: frozenset[str] = frozenset()


def _list(value: str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))


def parse_w3c(name: str, text: str, *, end: bool = False) -> datetime:
    """A W3C date-time (``2026-11-01T00:00:00+08:00``, ``...Z``) or a date (``2026-11-01``).

    A bare date is a whole day in Asia/Shanghai (an ``end_date`` includes that day); a time
    without an offset is Asia/Shanghai time.
    """
    text = text.strip()
    spaced = _SPACED_OFFSET.match(text)
    if spaced and "T" in text:
        text = f"{spaced.group(1)}+{spaced.group(2)}"
    try:
        if _DATE_ONLY.match(text):
            day = datetime.fromisoformat(text).date()
            when = datetime.combine(day, time(), SHANGHAI)
            if end:
                when += timedelta(days=1, microseconds=-1)
        else:
            when = datetime.fromisoformat(text)
            if when.tzinfo is None:
                when = when.replace(tzinfo=SHANGHAI)
    except ValueError as exc:
        raise Open311Error(
            400, f"{name} 不是有效的 W3C 日期时间，例如 2026-11-01T00:00:00+08:00"
        ) from exc
    if not YEARS[0] <= when.year <= YEARS[1]:
        raise Open311Error(400, f"{name} 超出可查询的年份范围")
    return when


def parse_query(query: Mapping[str, str], now: datetime) -> RequestQuery:
    """The filters of ``GET requests``; a malformed one is a 400 that names it."""
    numbers = _list(query.get("service_request_id"))
    if len(numbers) > MAX_RESULTS:
        raise Open311Error(400, f"service_request_id 一次最多 {MAX_RESULTS} 个")
    if numbers:
        return RequestQuery(numbers=numbers)
    statuses = frozenset(s.lower() for s in _list(query.get("status")))
    if not statuses <= _STATUS_VALUES:
        raise Open311Error(400, "status 只能是 open 或 closed（可用逗号分隔）")
    start_text, end_text = query.get("start_date", "").strip(), query.get("end_date", "").strip()
    start = parse_w3c("start_date", start_text) if start_text else None
    end = parse_w3c("end_date", end_text, end=True) if end_text else None
    if start is None and end is None:
        end = now
    if start is None:
        assert end is not None  # noqa: S101 - set just above when both were missing
        start = end - WINDOW
    if end is None:
        end = start + WINDOW
    if end < start:
        raise Open311Error(400, "end_date 不能早于 start_date")
    if end - start > WINDOW:
        raise Open311Error(400, f"start_date 与 end_date 相距不能超过 {WINDOW.days} 天")
    return RequestQuery(
        service_codes=_list(query.get("service_code")),
        start=start,
        end=end,
        statuses=statuses,
    )


# -- reading -----------------------------------------------------------------------------------


async def find_requests(ctx: Context, query: RequestQuery) -> list[dict[str, Any]]:
    """Public requests matching ``query``, newest first, at most :data:`MAX_RESULTS`."""
    stmt = select(Ticket).options(selectinload(Ticket.assignments)).where(public())
    if query.numbers:
        numbers = [n for n in query.numbers if len(n) <= MAX_NUMBER]
        if not numbers:
            return []
        stmt = stmt.where(Ticket.number.in_(numbers))
    else:
        if query.service_codes:
            stmt = stmt.where(Ticket.category_code.in_(query.service_codes))
        if query.start is not None:
            stmt = stmt.where(Ticket.received_at >= query.start)
        if query.end is not None:
            stmt = stmt.where(Ticket.received_at <= query.end)
        if query.statuses == {"open"}:
            stmt = stmt.where(Ticket.status.not_in(_FINAL_VALUES))
        elif query.statuses == {"closed"}:
            stmt = stmt.where(Ticket.status.in_(_FINAL_VALUES))
    stmt = stmt.order_by(Ticket.received_at.desc(), Ticket.id.desc()).limit(MAX_RESULTS)
    async with ctx.db.sessions() as session:
        tickets = list((await session.scalars(stmt)).all())
        ids = {t.citizen_id for t in tickets if t.citizen_id is not None}
        citizens: dict[int, list[str]] = {}
        if ids:
            rows = await session.execute(
                select(Citizen.id, Citizen.name, Citizen.phone, Citizen.phone_raw).where(
                    Citizen.id.in_(ids)
                )
            )
            citizens = {r.id: own_secrets(r.name, (r.phone, r.phone_raw)) for r in rows}
    ref = await ctx.reference.get()
    centre = centre_name(ctx)
    return [service_request(t, ref, centre, citizens.get(t.citizen_id or 0, [])) for t in tickets]


async def find_request(ctx: Context, number: str) -> dict[str, Any] | None:
    found = await find_requests(ctx, RequestQuery(numbers=(number,)))
    return found[0] if found else None


async def number_for_token(ctx: Context, token: str) -> str | None:
    """The public request a client's token stands for (None: unknown token, or hidden)."""
    stmt = (
        select(Ticket.number)
        .join(Contact, Contact.ticket_id == Ticket.id)
        .where(
            Contact.channel == Channel.PLATFORM.value,
            Contact.channel_ref == channel_ref(token),
            public(),
        )
    )
    async with ctx.db.sessions() as session:
        return (await session.scalars(stmt)).first()


# -- mapping -----------------------------------------------------------------------------------


def centre_name(ctx: Context) -> str:
    return f"{ctx.config.city.name}12345政务服务便民热线"


def cn_date(when: datetime) -> str:
    local = to_shanghai(when)
    return f"{local.year}年{local.month}月{local.day}日"


def _agency(t: Ticket, ref: ReferenceData, centre: str) -> str:
    """The lead unit while (or after) one handles it; the hotline centre otherwise."""
    status = Status(t.status)
    if status in AT_CENTRE or status in (Status.ANSWERED, Status.REJECTED, Status.TRANSFERRED):
        return centre
    leads = [
        a
        for a in t.assignments
        if a.role == Role.LEAD.value and a.status != AssignmentStatus.RETURNED.value
    ]
    if not leads:
        return centre
    code = leads[-1].department_code
    unit = ref.departments.get(code)
    return unit.name if unit else code


def _expected_by(suspension: Mapping[str, Any] | None) -> datetime | None:
    try:
        when = datetime.fromisoformat(str((suspension or {})["expected_by"]))
    except (KeyError, ValueError):
        return None
    return when if when.tzinfo is not None else None


_NOTICES = {
    Status.RECEIVED: "12345热线已受理，正在审核。",
    Status.AWAITING_DISPATCH: "12345热线正在确定承办单位。",
    Status.RETURNED: "承办单位申请退回，12345热线正在审核。",
    Status.REPLIED: "承办单位已答复，12345热线将进行回访。",
    Status.AWAITING_CALLBACK: "承办单位已答复，等待12345热线回访。",
    Status.CLOSED: "已办结。",
    Status.ANSWERED: "已由12345热线直接答复。",
    Status.REJECTED: "不属于12345热线受理范围，已告知其他反映途径。",
    Status.TRANSFERRED: "已转110/119/120紧急处置。",
    Status.MERGED: "与反映同一事项的其他工单合并办理。",
}


def service_notice(t: Ticket) -> str:
    status = Status(t.status)
    if status is Status.SUSPENDED:
        expected = _expected_by(t.suspension)
        return f"暂缓办理，预计{cn_date(expected)}前办结。" if expected else "暂缓办理。"
    if status in (Status.DISPATCHED, Status.SIGNED, Status.IN_PROGRESS):
        if t.due_at is not None:
            return f"承办单位应于{cn_date(t.due_at)}前办理并答复。"
        return "承办单位办理中。"
    return _NOTICES[status]


def _place(t: Ticket, ref: ReferenceData) -> str | None:
    if t.address:
        return t.address
    names = [ref.divisions[c].name for c in (t.division_code, t.street_code) if c in ref.divisions]
    return "".join(names) or None


def service_request(
    t: Ticket, ref: ReferenceData, centre: str, secrets: Sequence[str] = ()
) -> dict[str, Any]:
    """One ticket in GeoReport's field order. ``secrets``: the citizen's own name and numbers,
    blanked from the free text."""
    status = Status(t.status)
    category = ref.categories.get(t.category_code) if t.category_code else None
    return {
        "service_request_id": t.number,
        "status": "closed" if status in FINAL_STATUSES else "open",
        "status_notes": status.label,
        "service_name": category.name if category else None,
        "service_code": t.category_code,
        "description": redact(t.content, secrets),
        "agency_responsible": _agency(t, ref, centre),
        "service_notice": service_notice(t),
        "requested_datetime": iso(t.received_at),
        "updated_datetime": iso(t.updated_at),
        "expected_datetime": iso(t.due_at),
        "address": redact(_place(t, ref), secrets),
        "address_id": None,
        "zipcode": None,
        "lat": t.latitude,
        "long": t.longitude,
        "media_url": None,
    }
