"""好差评 (ratings of replies), their follow-up, appeals, return visits (回访) and units' records.

条例第五十二条: every reply is rated on the five national levels, bad ratings are checked and
rectified, real-name ones followed up with the citizen; 第五十六条第十项: a reply that does not
match what was done is an offence, so return visits check the reply's truth.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hotline.storage.base import Base


class RatingInvitation(Base):
    """The invitation to rate one reply (or a return visit's new result), on one channel."""

    __tablename__ = "rating_invitations"
    __table_args__ = (UniqueConstraint("ticket_id", "round"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    #: 1 for the reply, 2 after a rectification's return visit, ...
    round: Mapped[int] = mapped_column(Integer)
    #: sms | wechat | phone | mailbox
    channel: Mapped[str] = mapped_column(String(16))
    #: E.164 phone, WeChat openid, or the mailbox ticket's query (no recipient)
    recipient: Mapped[str | None] = mapped_column(String(100), default=None)
    citizen_id: Mapped[int | None] = mapped_column(ForeignKey("citizens.id"), index=True)
    sent_count: Mapped[int] = mapped_column(Integer, default=0)
    first_sent_at: Mapped[datetime]
    last_sent_at: Mapped[datetime]
    #: when it is sent once more if still unanswered (None: no more reminders)
    resend_at: Mapped[datetime | None] = mapped_column(index=True, default=None)
    #: when the ticket closes without a rating
    expires_at: Mapped[datetime] = mapped_column(index=True)
    #: pending | rated | expired
    status: Mapped[str] = mapped_column(String(8), index=True)


class Rating(Base):
    __tablename__ = "ratings"
    __table_args__ = (UniqueConstraint("ticket_id", "round"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    round: Mapped[int] = mapped_column(Integer)
    #: the unit whose reply is rated (the lead of the replied assignment)
    department_code: Mapped[str | None] = mapped_column(
        ForeignKey("departments.code"), index=True, default=None
    )
    #: 1 非常满意, 2 满意, 3 基本满意, 4 不满意, 5 非常不满意 (4 and 5 are bad)
    level: Mapped[int] = mapped_column(Integer)
    bad: Mapped[bool] = mapped_column(Boolean)
    real_name: Mapped[bool] = mapped_column(Boolean, default=False)
    channel: Mapped[str] = mapped_column(String(16))
    #: the carrier's id of the message that rated (MessageSid, MsgId, CallSid, ...)
    source_ref: Mapped[str | None] = mapped_column(String(200), default=None)
    comment: Mapped[str | None] = mapped_column(Text, default=None)
    rated_at: Mapped[datetime] = mapped_column(index=True)
    #: an upheld appeal voids a mistaken or malicious rating (kept, not counted)
    void: Mapped[bool] = mapped_column(Boolean, default=False)


class BadRatingReview(Base):
    """What the centre does about a bad rating: rectification (重办) or an explanation."""

    __tablename__ = "bad_rating_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    rating_id: Mapped[int] = mapped_column(ForeignKey("ratings.id"), unique=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    department_code: Mapped[str | None] = mapped_column(
        ForeignKey("departments.code"), index=True, default=None
    )
    #: pending | rectify | explained
    status: Mapped[str] = mapped_column(String(10), index=True)
    created_at: Mapped[datetime]
    #: a real-name bad rating: the unit contacts the citizen by then (条例第五十二条)
    contact_due_at: Mapped[datetime | None] = mapped_column(default=None)
    contacted_at: Mapped[datetime | None] = mapped_column(default=None)
    contact_note: Mapped[str | None] = mapped_column(Text, default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decided_by: Mapped[str | None] = mapped_column(String(100), default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)


class RatingAppeal(Base):
    """A unit's appeal against a mistaken or malicious rating; a supervisor decides."""

    __tablename__ = "rating_appeals"

    id: Mapped[int] = mapped_column(primary_key=True)
    rating_id: Mapped[int] = mapped_column(ForeignKey("ratings.id"), index=True)
    department_code: Mapped[str] = mapped_column(ForeignKey("departments.code"))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    #: pending | upheld | rejected
    status: Mapped[str] = mapped_column(String(10), index=True)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decided_by: Mapped[str | None] = mapped_column(String(100), default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)


class ReturnVisit(Base):
    """回访: an agent asks the citizen whether the reply matches what was done."""

    __tablename__ = "return_visits"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    agent: Mapped[str] = mapped_column(String(100))
    #: reached | unreachable
    outcome: Mapped[str] = mapped_column(String(12))
    #: the citizen confirms the reply matches what was done (None: not asked / unreachable)
    reply_true: Mapped[bool | None] = mapped_column(Boolean, default=None)
    level: Mapped[int | None] = mapped_column(Integer, default=None)
    note: Mapped[str | None] = mapped_column(Text, default=None)
    visited_at: Mapped[datetime] = mapped_column(index=True)


class UnitFlag(Base):
    """A mark on a unit's record for the annual review (第五十一条): a false reply, say."""

    __tablename__ = "unit_flags"

    id: Mapped[int] = mapped_column(primary_key=True)
    department_code: Mapped[str] = mapped_column(ForeignKey("departments.code"), index=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    #: false_reply | bad_rating_unanswered | ...
    kind: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text, default=None)
    flagged_at: Mapped[datetime] = mapped_column(index=True)
    flagged_by: Mapped[str] = mapped_column(String(100))
