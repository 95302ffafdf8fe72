"""好差评: invitations to rate a reply, ratings, and what a bad rating sets in motion.

条例第五十二条. After a unit's reply the citizen is invited to rate it on the channel they used
(an SMS to read the five levels as digits, a WeChat message, an automated survey call to a
landline, the mailbox's query page). One rating per reply, never forced: an unanswered
invitation is sent once more after ``evaluation.resend_after_hours``, and when
``evaluation.expire_after_hours`` have passed the ticket is closed *without* a rating (nothing
counts as "satisfied" by default).

A good rating (1–3) closes the ticket. A bad one (4 不满意, 5 非常不满意) puts it in the
return-visit list (待回访) and opens a review: the centre decides rectification (重办: the unit
handles it again, with its own deadline) or an explanation. For a real-name bad rating the unit
must contact the citizen within ``evaluation.bad_contact_working_days`` (the regulation's number
is missing from its text; 1 by default). A rectified ticket's new reply is rated again. Units
may appeal a mistaken or malicious rating; a supervisor decides, and an upheld appeal voids the
rating (kept, never counted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.service import dispatch_to
from hotline.config import TimeLimit
from hotline.domain.errors import Conflict, IllegalTransition, InvalidField, NotFound
from hotline.domain.lifecycle import SYSTEM, Actor, Annotate, Close, Reopen, StartCallback
from hotline.domain.vocabulary import Channel, Role, Status
from hotline.services.context import Context
from hotline.services.hooks import TicketChange
from hotline.services.outbox import Outgoing, enqueue
from hotline.services.tickets import perform, perform_in
from hotline.storage.calls import Call
from hotline.storage.citizens import Citizen, Contact
from hotline.storage.evaluation import (
    BadRatingReview,
    Rating,
    RatingAppeal,
    RatingInvitation,
    ReturnVisit,
    UnitFlag,
)
from hotline.storage.tickets import Assignment, Ticket

LEVELS = {1: "非常满意", 2: "满意", 3: "基本满意", 4: "不满意", 5: "非常不满意"}
BAD_LEVELS = frozenset({4, 5})


def level_name(level: int) -> str:
    return LEVELS[level]


# -- invitations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reach:
    channel: str  # sms | wechat | phone | mailbox | none
    recipient: str | None


async def _reach(ctx: Context, session: AsyncSession, ticket: Ticket) -> Reach:
    """How to ask this ticket's citizen: the channel they came in on, where possible.

    WeChat → a WeChat message; a phone call → a survey call back (or an SMS to a mobile, by
    ``evaluation.phone_invitation``); SMS → SMS; the mailbox → its query page, and an SMS as
    well to a mobile number they gave. Tickets the centre entered itself go by the number: an
    SMS to a mobile, a survey call to a landline."""
    origin = ticket.origin_channel
    if origin == Channel.PLATFORM.value:
        return Reach("none", None)  # the superior platform runs its own 好差评
    if origin == Channel.WECHAT.value:
        openid = await session.scalar(
            select(Contact.payload["FromUserName"].as_string())
            .where(Contact.ticket_id == ticket.id, Contact.channel == Channel.WECHAT.value)
            .order_by(Contact.id)
            .limit(1)
        )
        if openid:
            return Reach("wechat", openid)
    citizen = None
    citizen_id = ticket.citizen_id
    if citizen_id is None:  # e.g. a call's ticket the agent filed without the number
        citizen_id = await session.scalar(
            select(Contact.citizen_id)
            .where(Contact.ticket_id == ticket.id, Contact.citizen_id.is_not(None))
            .order_by(Contact.id)
            .limit(1)
        )
    if citizen_id is not None:
        citizen = await session.get(Citizen, citizen_id)
    if citizen is not None and citizen.phone:
        by_call = origin == Channel.PHONE.value and ctx.config.evaluation.phone_invitation == "call"
        if by_call or not _is_mobile(citizen.phone):
            return Reach("phone", citizen.phone)  # a landline: an automated survey call
        if citizen.sms_opt_out_at is None:  # 退订 is honoured: no rating SMS either
            return Reach("sms", citizen.phone)
    if origin == Channel.PHONE.value and citizen is None:
        # a first-time caller the agent filed without the number: the caller ID of the call
        caller = await session.scalar(
            select(Call.from_e164)
            .join(Contact, Contact.payload["CallSid"].as_string() == Call.call_sid)
            .where(Contact.ticket_id == ticket.id, Call.from_e164.is_not(None))
            .limit(1)
        )
        if caller:
            return Reach("phone", caller)
    if origin == Channel.MAILBOX.value:
        return Reach("mailbox", None)  # rated on the mailbox's query page
    return Reach("none", None)


def _is_mobile(e164: str) -> bool:
    try:
        kind = phonenumbers.number_type(phonenumbers.parse(e164))
    except phonenumbers.NumberParseException:
        return False
    return kind in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )


def invitation_text(ctx: Context, number: str) -> str:
    return ctx.config.evaluation.invitation.format(number=number)


async def on_reply(ctx: Context, session: AsyncSession, change: TicketChange) -> None:
    """Hook: the lead unit replied (the ticket is 已答复), or the centre answered on the spot
    (已直接答复): invite the citizen to rate the reply.

    A caller answered on the spot is asked at the end of the call, while still on the line
    (``ivr.web.agent_done``): the invitation waits unsent for ``after_call_survey_minutes``
    and only then, if the call ended first, goes out the usual way (a survey call or SMS)."""
    replied = change.event.action == "replied" and change.state.status is Status.REPLIED
    answered = change.event.action == "answered" and change.state.status is Status.ANSWERED
    if not (replied or answered):
        return
    ticket = change.ticket
    now = change.event.at
    rounds = await session.scalar(
        select(func.count())
        .select_from(RatingInvitation)
        .where(RatingInvitation.ticket_id == ticket.id)
    )
    reach = await _reach(ctx, session, ticket)
    cfg = ctx.config.evaluation
    in_call = answered and ticket.origin_channel == Channel.PHONE.value
    if in_call and reach.channel not in ("phone", "sms"):
        reach = Reach("phone", None)  # asked in the call only: no number to reach them after
    sends = reach.channel not in ("none", "mailbox")
    if in_call:
        first_send: datetime | None = now + timedelta(minutes=cfg.after_call_survey_minutes)
    elif sends:
        first_send = now + timedelta(hours=cfg.resend_after_hours)
    else:
        first_send = None
    invitation = RatingInvitation(
        ticket_id=ticket.id,
        round=int(rounds or 0) + 1,
        channel=reach.channel,
        recipient=reach.recipient,
        citizen_id=ticket.citizen_id,
        sent_count=1 if sends and not in_call else 0,
        first_sent_at=now,
        last_sent_at=now,
        resend_at=first_send,
        expires_at=now + timedelta(hours=cfg.expire_after_hours),
        status="pending",
    )
    session.add(invitation)
    await session.flush()
    if not in_call:
        await _send(ctx, session, invitation, ticket.number, now)


async def survey_in_call(ctx: Context, call_sid: str) -> int | None:
    """The invitation to rate at the end of this call, if the agent answered the caller's
    matter on the spot (the latest such ticket of the call, not yet asked): marked as sent
    (by this call), so that no survey call or SMS follows.

    Read from the few invitations still waiting to be sent (a direct answer's, for
    ``after_call_survey_minutes``), then their tickets' contacts: never a scan of contacts."""
    async with ctx.db.sessions() as session, session.begin():
        waiting = list(
            await session.scalars(
                select(RatingInvitation)
                .where(
                    RatingInvitation.status == "pending",
                    RatingInvitation.sent_count == 0,
                    RatingInvitation.channel.in_(("phone", "sms")),
                    RatingInvitation.resend_at.is_not(None),
                )
                .order_by(RatingInvitation.id.desc())
                .with_for_update()
            )
        )
        if not waiting:
            return None
        of_call = set(
            await session.scalars(
                select(Contact.ticket_id)
                .join(Ticket, Ticket.id == Contact.ticket_id)
                .where(
                    Contact.ticket_id.in_(sorted({i.ticket_id for i in waiting})),
                    Contact.channel == Channel.PHONE.value,
                    # the call's own contact, or a second matter in the same call (CallSid:key)
                    or_(
                        Contact.channel_ref == call_sid,
                        Contact.channel_ref.startswith(f"{call_sid}:", autoescape=True),
                    ),
                    Ticket.status == Status.ANSWERED.value,
                )
            )
        )
        invitation = next((i for i in waiting if i.ticket_id in of_call), None)
        if invitation is None:
            return None
        now = ctx.clock.now()
        invitation.sent_count = 1
        invitation.last_sent_at = now
        invitation.resend_at = None
        return invitation.id


async def _send(
    ctx: Context, session: AsyncSession, invitation: RatingInvitation, number: str, now: datetime
) -> None:
    if invitation.channel in ("none", "mailbox") or invitation.recipient is None:
        return
    kind = {"sms": "sms", "wechat": "wechat", "phone": "survey_call"}[invitation.channel]
    await enqueue(
        session,
        [
            Outgoing(
                kind=kind,
                key=f"rating:{invitation.id}:{invitation.sent_count}",
                recipient=invitation.recipient,
                body=invitation_text(ctx, number),
                purpose="rating_invitation",
                ticket_id=invitation.ticket_id,
                citizen_id=invitation.citizen_id,
                payload={"invitation": invitation.id, "ticket": number},
            )
        ],
        now,
    )


async def replying_unit(session: AsyncSession, ticket_id: int) -> str | None:
    """The unit whose latest reply is the one rated (the lead that replied last)."""
    return await session.scalar(
        select(Assignment.department_code)
        .where(
            Assignment.ticket_id == ticket_id,
            Assignment.role == Role.LEAD.value,
            Assignment.replied_at.is_not(None),
        )
        .order_by(Assignment.replied_at.desc())
        .limit(1)
    )


# -- rating ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rated:
    rating: Rating
    number: str
    #: False when this delivery had already been counted (a carrier's retry)
    new: bool


async def rate(
    ctx: Context,
    number: str,
    level: int,
    *,
    channel: str,
    source_ref: str | None = None,
    comment: str | None = None,
) -> Rating:
    """Rate the latest reply of ticket ``number`` (its pending invitation)."""
    async with ctx.db.sessions() as session:
        invitation = await session.scalar(
            select(RatingInvitation)
            .join(Ticket, Ticket.id == RatingInvitation.ticket_id)
            .where(Ticket.number == number, RatingInvitation.status == "pending")
            .order_by(RatingInvitation.round.desc())
            .limit(1)
        )
    if invitation is None:
        raise IllegalTransition(f"工单 {number} 没有待评价的答复", code="nothing_to_rate")
    rated = await rate_invitation(ctx, invitation.id, level, channel, source_ref, comment)
    return rated.rating


async def rate_by_recipient(
    ctx: Context, channel: str, recipient: str, level: int, source_ref: str
) -> Rated | None:
    """A digit from a phone (SMS) or an openid (WeChat): it rates the latest unrated reply
    invited there (a reminder of an older one does not make it the latest). None when nothing
    waits for a rating from them."""
    async with ctx.db.sessions() as session:
        earlier = await session.scalar(
            select(Rating).where(Rating.source_ref == source_ref, Rating.channel == channel)
        )
        if earlier is not None:  # the carrier's retry of the message that rated
            number = await session.scalar(
                select(Ticket.number).where(Ticket.id == earlier.ticket_id)
            )
            return Rated(earlier, number or "", new=False)
        invitation = await session.scalar(
            select(RatingInvitation)
            .where(
                RatingInvitation.channel == channel,
                RatingInvitation.recipient == recipient,
                RatingInvitation.status == "pending",
            )
            .order_by(RatingInvitation.first_sent_at.desc(), RatingInvitation.id.desc())
            .limit(1)
        )
    if invitation is None:
        return None
    return await rate_invitation(ctx, invitation.id, level, channel, source_ref, None)


async def rate_invitation(
    ctx: Context,
    invitation_id: int,
    level: int,
    channel: str,
    source_ref: str | None,
    comment: str | None,
) -> Rated:
    if level not in LEVELS:
        raise InvalidField("level", "评价须为 1-5：1非常满意 2满意 3基本满意 4不满意 5非常不满意")
    now = ctx.clock.now()
    async with ctx.db.sessions() as session, session.begin():
        invitation = await session.get(RatingInvitation, invitation_id)
        if invitation is None or invitation.status != "pending":
            raise Conflict("该答复已评价或已过评价期限", code="already_rated")
        ticket = await session.get(Ticket, invitation.ticket_id)
        assert ticket is not None  # noqa: S101 - a foreign key
        department = await replying_unit(session, ticket.id)
        real_name = False
        if ticket.citizen_id is not None:
            real_name = bool(
                await session.scalar(
                    select(Citizen.real_name).where(Citizen.id == ticket.citizen_id)
                )
            )
        rating = Rating(
            ticket_id=ticket.id,
            round=invitation.round,
            department_code=department,
            level=level,
            bad=level in BAD_LEVELS,
            real_name=real_name,
            channel=channel,
            source_ref=source_ref,
            comment=comment,
            rated_at=now,
            void=False,
        )
        session.add(rating)
        invitation.status = "rated"
        invitation.resend_at = None
        await session.flush()
        note = f"市民评价：{level_name(level)}({channel})"
        status = Status(ticket.status)
        if rating.bad:
            due = None
            if real_name:
                due = ctx.calendar.deadline(now, ctx.config.evaluation.bad_contact_working_days)
            session.add(
                BadRatingReview(
                    rating_id=rating.id,
                    ticket_id=ticket.id,
                    department_code=department,
                    status="pending",
                    created_at=now,
                    contact_due_at=due,
                )
            )
            if status is Status.REPLIED:
                await perform_in(
                    ctx, session, ticket.number, StartCallback(f"{note}，转回访"), SYSTEM
                )
            else:
                await perform_in(ctx, session, ticket.number, Annotate(note, kind="rating"), SYSTEM)
        elif status in (Status.REPLIED, Status.AWAITING_CALLBACK):
            await perform_in(ctx, session, ticket.number, Close(note), SYSTEM)
        else:
            await perform_in(ctx, session, ticket.number, Annotate(note, kind="rating"), SYSTEM)
        return Rated(rating, ticket.number, new=True)


# -- the centre's follow-up --------------------------------------------------------------------


async def decide_review(
    ctx: Context, review_id: int, *, rectify: bool, note: str, actor: Actor
) -> BadRatingReview:
    """重办 with its own deadline, or an explanation (then a return visit closes it)."""
    now = ctx.clock.now()
    async with ctx.db.sessions() as session, session.begin():
        review = await session.get(BadRatingReview, review_id)
        if review is None:
            raise NotFound(f"差评复核 {review_id} 不存在")
        if review.status != "pending":
            raise Conflict("该差评已处理", code="already_decided")
        ticket = await session.get(Ticket, review.ticket_id)
        assert ticket is not None  # noqa: S101 - a foreign key
        review.status = "rectify" if rectify else "explained"
        review.decided_at, review.decided_by, review.note = now, actor.label, note
        number, unit = ticket.number, review.department_code
        if not rectify:
            await perform_in(
                ctx, session, number, Annotate(f"差评复核：解释说明。{note}", kind="review"), actor
            )
    if rectify:
        await perform(ctx, number, Reopen(f"差评整改：{note}"), actor)
        if unit is not None:
            limit = TimeLimit(working_days=ctx.config.evaluation.rectify_working_days)
            await dispatch_to(ctx, number, unit, actor, rule="rectification", limit=limit)
    async with ctx.db.sessions() as session:
        decided = await session.get(BadRatingReview, review_id)
        assert decided is not None  # noqa: S101
        return decided


async def record_unit_contact(
    ctx: Context, review_id: int, department: str, note: str
) -> BadRatingReview:
    """The unit reports it contacted the citizen about a real-name bad rating."""
    async with ctx.db.sessions() as session, session.begin():
        review = await session.get(BadRatingReview, review_id)
        if review is None or review.department_code != department:
            raise NotFound(f"差评复核 {review_id} 不存在")
        if review.contacted_at is not None:
            raise Conflict("已登记联系情况", code="already_contacted")
        review.contacted_at = ctx.clock.now()
        review.contact_note = note
        number = await session.scalar(select(Ticket.number).where(Ticket.id == review.ticket_id))
        assert number is not None  # noqa: S101
        await perform_in(
            ctx,
            session,
            number,
            Annotate(f"承办单位已联系市民：{note}", kind="contact"),
            Actor(SYSTEM.kind, SYSTEM.id, department),
        )
        return review


async def appeal(ctx: Context, rating_id: int, department: str, reason: str) -> RatingAppeal:
    if not reason.strip():
        raise InvalidField("reason", "申诉须说明理由")
    async with ctx.db.sessions() as session, session.begin():
        rating = await session.get(Rating, rating_id)
        if rating is None or rating.department_code != department:
            raise NotFound(f"评价 {rating_id} 不存在")
        if rating.void:
            raise Conflict("该评价已作废", code="already_void")
        pending = await session.scalar(
            select(RatingAppeal.id).where(
                RatingAppeal.rating_id == rating_id, RatingAppeal.status == "pending"
            )
        )
        if pending is not None:
            raise Conflict("该评价已有待审核的申诉", code="appeal_pending")
        made = RatingAppeal(
            rating_id=rating_id,
            department_code=department,
            reason=reason.strip(),
            created_at=ctx.clock.now(),
            status="pending",
        )
        session.add(made)
        await session.flush()
        return made


async def decide_appeal(
    ctx: Context, appeal_id: int, *, uphold: bool, note: str | None, actor: Actor
) -> RatingAppeal:
    """An upheld appeal voids a mistaken or malicious rating: kept, never counted."""
    async with ctx.db.sessions() as session, session.begin():
        made = await session.get(RatingAppeal, appeal_id)
        if made is None:
            raise NotFound(f"申诉 {appeal_id} 不存在")
        if made.status != "pending":
            raise Conflict("该申诉已审核", code="already_decided")
        made.status = "upheld" if uphold else "rejected"
        made.decided_at, made.decided_by, made.note = ctx.clock.now(), actor.label, note
        if uphold:
            rating = await session.get(Rating, made.rating_id)
            assert rating is not None  # noqa: S101
            rating.void = True
        return made


async def return_visit(
    ctx: Context,
    number: str,
    *,
    reached: bool,
    reply_true: bool | None,
    level: int | None,
    note: str | None,
    actor: Actor,
) -> ReturnVisit:
    """回访: the agent asks whether the reply matches what was done (第五十六条第十项: a false
    reply is an offence, so a mismatch is flagged on the unit's record), and may take a rating.
    A satisfied visit closes a ticket waiting for it."""
    if level is not None and level not in LEVELS:
        raise InvalidField("level", "评价须为 1-5")
    now = ctx.clock.now()
    async with ctx.db.sessions() as session, session.begin():
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
        if ticket is None:
            raise NotFound(f"工单 {number} 不存在")
        status = Status(ticket.status)
        if status not in (Status.REPLIED, Status.AWAITING_CALLBACK, Status.CLOSED):
            raise IllegalTransition(f"工单 {number} 尚未答复，不能回访")
        visit = ReturnVisit(
            ticket_id=ticket.id,
            agent=actor.label,
            outcome="reached" if reached else "unreachable",
            reply_true=reply_true if reached else None,
            level=level if reached else None,
            note=note,
            visited_at=now,
        )
        session.add(visit)
        department = await replying_unit(session, ticket.id)
        if reached and reply_true is False and department is not None:
            session.add(
                UnitFlag(
                    department_code=department,
                    ticket_id=ticket.id,
                    kind="false_reply",
                    note=note or "回访中市民反映答复与实际办理情况不一致",
                    flagged_at=now,
                    flagged_by=actor.label,
                )
            )
        what = (
            "联系不上"
            if not reached
            else (
                "答复属实" if reply_true else "答复与实际不符" if reply_true is False else "已回访"
            )
        )
        await perform_in(
            ctx,
            session,
            number,
            Annotate(f"回访：{what}。{note or ''}".rstrip("。") + "。", kind="return_visit"),
            actor,
        )
        pending = await session.scalar(
            select(RatingInvitation)
            .where(RatingInvitation.ticket_id == ticket.id, RatingInvitation.status == "pending")
            .limit(1)
        )
        await session.flush()
    if reached and level is not None:
        if pending is not None:
            await rate_invitation(ctx, pending.id, level, "callback", f"visit:{visit.id}", note)
        elif level not in BAD_LEVELS and Status(ticket.status) is Status.AWAITING_CALLBACK:
            await perform(ctx, number, Close(f"回访满意：{level_name(level)}"), actor)
    return visit


# -- the sweep ---------------------------------------------------------------------------------


@dataclass
class SweepReport:
    resent: list[str]
    expired: list[str]
    flagged: list[str]


async def sweep(ctx: Context) -> SweepReport:
    """Re-send once, close unrated tickets after the deadline, flag units late to contact."""
    now = ctx.clock.now()
    report = SweepReport([], [], [])
    async with ctx.db.sessions() as session, session.begin():
        due = list(
            await session.scalars(
                select(RatingInvitation).where(
                    RatingInvitation.status == "pending", RatingInvitation.resend_at <= now
                )
            )
        )
        for invitation in due:
            number = await session.scalar(
                select(Ticket.number).where(Ticket.id == invitation.ticket_id)
            )
            invitation.sent_count += 1
            invitation.last_sent_at = now
            invitation.resend_at = None  # once only
            await _send(ctx, session, invitation, number or "", now)
            report.resent.append(number or "")
    async with ctx.db.sessions() as session:
        expired_ids = list(
            await session.scalars(
                select(RatingInvitation.id).where(
                    RatingInvitation.status == "pending", RatingInvitation.expires_at <= now
                )
            )
        )
    for invitation_id in expired_ids:
        async with ctx.db.sessions() as session, session.begin():
            lapsed = await session.get(RatingInvitation, invitation_id)
            if lapsed is None or lapsed.status != "pending":
                continue
            lapsed.status = "expired"
            ticket = await session.get(Ticket, lapsed.ticket_id)
            assert ticket is not None  # noqa: S101
            if Status(ticket.status) is Status.REPLIED:
                await perform_in(
                    ctx,
                    session,
                    ticket.number,
                    Close("评价期限已过，市民未评价，工单办结(不计为满意)"),
                    SYSTEM,
                )
            report.expired.append(ticket.number)
    async with ctx.db.sessions() as session, session.begin():
        late = list(
            await session.scalars(
                select(BadRatingReview).where(
                    BadRatingReview.contact_due_at <= now,
                    BadRatingReview.contacted_at.is_(None),
                )
            )
        )
        for review in late:
            if review.department_code is None:
                continue
            known = await session.scalar(
                select(UnitFlag.id).where(
                    UnitFlag.ticket_id == review.ticket_id,
                    UnitFlag.kind == "bad_rating_contact_overdue",
                )
            )
            if known is not None:
                continue
            session.add(
                UnitFlag(
                    department_code=review.department_code,
                    ticket_id=review.ticket_id,
                    kind="bad_rating_contact_overdue",
                    note="实名差评未在规定时限内联系市民",
                    flagged_at=now,
                    flagged_by="scheduler",
                )
            )
            report.flagged.append(review.department_code)
    return report


async def pending_visits(ctx: Context, limit: int = 100) -> Sequence[Ticket]:
    """The agents' return-visit list (待回访): bad ratings to follow up, oldest first."""
    async with ctx.db.sessions() as session:
        return list(
            await session.scalars(
                select(Ticket)
                .where(Ticket.status == Status.AWAITING_CALLBACK.value)
                .order_by(Ticket.updated_at)
                .limit(limit)
            )
        )
