"""Public disclosure of rated replies (条例第五十二条: evaluations and replies are public).

One item per rating that stands (an upheld appeal voids a rating: it is not published), with
the category, division and unit of the ticket, when the rated reply was given, the reply's
text and the level (a direct answer, 直接答复, is the hotline's own reply). Never published:

* anything of a confidential (保密) ticket, a 举报, an unclassified ticket (it may yet turn out
  to be a 举报), or a ticket of a citizen who asked for confidentiality;
* personal data: the citizen record is never read into an item, and the reply is scrubbed
  (:func:`hotline.services.privacy.scrub`) of the citizen's own name, numbers and address,
  and of anything shaped like a phone, ID card number, e-mail, a name with a form of address
  (王先生) or a home address (3号楼2单元401室).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, not_, select

from hotline.domain.errors import InvalidField
from hotline.domain.vocabulary import Role, TicketType
from hotline.services.context import Context
from hotline.services.privacy import own_secrets, scrub
from hotline.services.ratings import LEVELS
from hotline.storage.citizens import Citizen
from hotline.storage.evaluation import Rating
from hotline.storage.tickets import Assignment, Ticket, TicketEvent

MAX_PAGE = 100
DEFAULT_PAGE = 20


@dataclass(frozen=True)
class PublicEvaluation:
    number: str
    category: str | None
    division: str | None
    department: str | None
    replied_at: datetime | None
    reply: str | None
    rating: str
    rated_at: datetime


@dataclass(frozen=True)
class Page:
    items: list[PublicEvaluation]
    next_cursor: str | None


def publishable() -> ColumnElement[bool]:
    """The SQL condition for a ticket whose rated replies may be published."""
    citizen_wants_secrecy = exists().where(
        Citizen.id == Ticket.citizen_id, Citizen.wants_confidential.is_(True)
    )
    return and_(
        Ticket.confidential.is_(False),
        Ticket.type.is_not(None),
        Ticket.type != TicketType.REPORT.value,
        not_(citizen_wants_secrecy),
    )


def encode_cursor(rating_id: int) -> str:
    return base64.urlsafe_b64encode(f"r:{rating_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, value = raw.split(":", 1)
        if prefix != "r" or not value.isdigit() or len(value) > 18:
            raise ValueError(prefix)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidField("cursor", "无效的分页游标") from exc


async def public_evaluations(
    ctx: Context, *, limit: int = DEFAULT_PAGE, cursor: str | None = None
) -> Page:
    """Rated replies, newest rating first."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidField("limit", f"必须在 1 到 {MAX_PAGE} 之间")
    stmt = (
        select(Rating, Ticket)
        .join(Ticket, Ticket.id == Rating.ticket_id)
        .where(Rating.void.is_(False), publishable())
    )
    if cursor is not None:
        stmt = stmt.where(Rating.id < decode_cursor(cursor))
    stmt = stmt.order_by(Rating.id.desc()).limit(limit + 1)
    async with ctx.db.sessions() as session:
        rows = [(r[0], r[1]) for r in await session.execute(stmt)]
        more = len(rows) > limit
        rows = rows[:limit]
        ticket_ids = {t.id for _, t in rows}
        replies: dict[int, list[Assignment]] = {i: [] for i in ticket_ids}
        if ticket_ids:
            for a in await session.scalars(
                select(Assignment)
                .where(
                    Assignment.ticket_id.in_(sorted(ticket_ids)),
                    Assignment.role == Role.LEAD.value,
                    Assignment.replied_at.is_not(None),
                )
                .order_by(Assignment.replied_at)
            ):
                replies[a.ticket_id].append(a)
        # the centre's own answers (直接答复) for tickets no unit replied to
        answers: dict[int, list[tuple[datetime, str]]] = {}
        unanswered = sorted(i for i in ticket_ids if not replies[i])
        if unanswered:
            for e in await session.execute(
                select(TicketEvent.ticket_id, TicketEvent.at, TicketEvent.note)
                .where(
                    TicketEvent.ticket_id.in_(unanswered),
                    TicketEvent.action == "answered",
                    TicketEvent.note.is_not(None),
                )
                .order_by(TicketEvent.at)
            ):
                answers.setdefault(e.ticket_id, []).append((e.at, e.note))
        citizen_ids = {t.citizen_id for _, t in rows if t.citizen_id is not None}
        secrets: dict[int, list[str]] = {}
        if citizen_ids:
            for c in await session.execute(
                select(Citizen.id, Citizen.name, Citizen.phone, Citizen.phone_raw).where(
                    Citizen.id.in_(sorted(citizen_ids))
                )
            ):
                secrets[c.id] = own_secrets(c.name, (c.phone, c.phone_raw))
    ref = await ctx.reference.get()
    items = []
    for rating, ticket in rows:
        reply = _rated_reply(replies.get(ticket.id, []), rating)
        category = ref.categories.get(ticket.category_code or "")
        division = ref.divisions.get(ticket.division_code or "")
        code = reply.department_code if reply is not None else rating.department_code
        unit = ref.departments.get(code or "")
        hidden = [
            *secrets.get(ticket.citizen_id or 0, []),
            *own_secrets(None, (), (ticket.address,)),
        ]
        department = unit.name if unit else None
        replied_at = reply.replied_at if reply is not None else None
        text = reply.reply_content if reply is not None else None
        if reply is None:
            answer = [a for a in answers.get(ticket.id, []) if a[0] <= rating.rated_at]
            if answer:  # answered on the spot by the hotline itself
                replied_at, text = answer[-1]
                department = f"{ctx.config.city.name}12345热线"
        items.append(
            PublicEvaluation(
                number=ticket.number,
                category=category.name if category else None,
                division=division.name if division else None,
                department=department,
                replied_at=replied_at,
                reply=scrub(text, hidden) if text is not None else None,
                rating=LEVELS[rating.level],
                rated_at=rating.rated_at,
            )
        )
    return Page(items, encode_cursor(rows[-1][0].id) if more and rows else None)


def _rated_reply(replies: list[Assignment], rating: Rating) -> Assignment | None:
    """The reply a rating is about: the rated unit's latest reply before the rating."""
    before = [a for a in replies if a.replied_at is not None and a.replied_at <= rating.rated_at]
    own = [a for a in before if a.department_code == rating.department_code]
    chosen = own or before
    return chosen[-1] if chosen else None
