"""好差评 follow-up for staff and units: reviews of bad ratings, units' contact with the
citizen, appeals, return visits (回访) and units' records (CONTRACT.md's ratings, extended)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field
from sqlalchemy import select

from hotline.domain.errors import InvalidField
from hotline.domain.vocabulary import ActorKind
from hotline.services import queries, ratings
from hotline.storage.evaluation import (
    BadRatingReview,
    Rating,
    RatingAppeal,
    RatingInvitation,
    ReturnVisit,
    UnitFlag,
)
from hotline.storage.tickets import Ticket
from hotline.web.api.bodies import Body, parse_body, path_id
from hotline.web.api.serialize import iso
from hotline.web.auth import Principal, require
from hotline.web.errors import read_json_object
from hotline.web.jsonresp import json_response
from hotline.web.keys import CONTEXT

STAFF = (ActorKind.ADMIN, ActorKind.AGENT, ActorKind.SUPERVISOR)
SUPERVISORS = (ActorKind.ADMIN, ActorKind.SUPERVISOR)
DEPARTMENT = (ActorKind.DEPARTMENT,)

routes = web.RouteTableDef()


def rating_json(r: Rating) -> dict[str, Any]:
    return {
        "id": r.id,
        "round": r.round,
        "department": r.department_code,
        "level": r.level,
        "rating": ratings.level_name(r.level),
        "bad": r.bad,
        "real_name": r.real_name,
        "channel": r.channel,
        "comment": r.comment,
        "rated_at": iso(r.rated_at),
        "void": r.void,
    }


def review_json(r: BadRatingReview, number: str | None = None) -> dict[str, Any]:
    return {
        "id": r.id,
        "rating_id": r.rating_id,
        "ticket": number,
        "department": r.department_code,
        "status": r.status,
        "created_at": iso(r.created_at),
        "contact_due_at": iso(r.contact_due_at),
        "contacted_at": iso(r.contacted_at),
        "contact_note": r.contact_note,
        "decided_at": iso(r.decided_at),
        "decided_by": r.decided_by,
        "note": r.note,
    }


def appeal_json(a: RatingAppeal) -> dict[str, Any]:
    return {
        "id": a.id,
        "rating_id": a.rating_id,
        "department": a.department_code,
        "reason": a.reason,
        "status": a.status,
        "created_at": iso(a.created_at),
        "decided_at": iso(a.decided_at),
        "decided_by": a.decided_by,
        "note": a.note,
    }


def visit_json(v: ReturnVisit) -> dict[str, Any]:
    return {
        "id": v.id,
        "agent": v.agent,
        "outcome": v.outcome,
        "reply_true": v.reply_true,
        "level": v.level,
        "note": v.note,
        "visited_at": iso(v.visited_at),
    }


def _scope(principal: Principal) -> str | None:
    return principal.department if principal.kind is ActorKind.DEPARTMENT else None


@routes.get("/api/v1/tickets/{number}/ratings")
async def ticket_ratings(request: web.Request) -> web.Response:
    """A ticket's invitations, ratings and return visits."""
    principal = await require(request, (*STAFF, *DEPARTMENT))
    ctx = request.app[CONTEXT]
    view = await queries.get_ticket(
        ctx, request.match_info["number"], scope_department=_scope(principal)
    )
    async with ctx.db.sessions() as session:
        tid = view.ticket.id
        invitations = list(
            await session.scalars(
                select(RatingInvitation)
                .where(RatingInvitation.ticket_id == tid)
                .order_by(RatingInvitation.round)
            )
        )
        rated = list(
            await session.scalars(
                select(Rating).where(Rating.ticket_id == tid).order_by(Rating.round)
            )
        )
        visits = list(
            await session.scalars(
                select(ReturnVisit).where(ReturnVisit.ticket_id == tid).order_by(ReturnVisit.id)
            )
        )
    return json_response(
        {
            "number": view.ticket.number,
            "invitations": [
                {
                    "round": i.round,
                    "channel": i.channel,
                    "status": i.status,
                    "sent_count": i.sent_count,
                    "first_sent_at": iso(i.first_sent_at),
                    "expires_at": iso(i.expires_at),
                }
                for i in invitations
            ],
            "ratings": [rating_json(r) for r in rated],
            "visits": [visit_json(v) for v in visits] if principal.kind in STAFF else [],
        }
    )


@routes.get("/api/v1/reviews")
async def list_reviews(request: web.Request) -> web.Response:
    """Bad ratings under review (pending by default); a unit sees its own."""
    principal = await require(request, (*STAFF, *DEPARTMENT))
    status = request.query.get("status", "pending")
    if status not in ("pending", "rectify", "explained"):
        raise InvalidField("status", "必须是 pending、rectify 或 explained")
    stmt = (
        select(BadRatingReview, Ticket.number)
        .join(Ticket, Ticket.id == BadRatingReview.ticket_id)
        .where(BadRatingReview.status == status)
        .order_by(BadRatingReview.created_at)
        .limit(200)
    )
    if principal.kind is ActorKind.DEPARTMENT:
        stmt = stmt.where(BadRatingReview.department_code == principal.department)
    async with request.app[CONTEXT].db.sessions() as session:
        rows = [(row[0], row[1]) for row in await session.execute(stmt)]
    return json_response({"items": [review_json(r, n) for r, n in rows]})


class ReviewDecision(Body):
    rectify: bool
    note: str = Field(min_length=1, max_length=2000)


@routes.post("/api/v1/reviews/{id}/decision")
async def decide_review(request: web.Request) -> web.Response:
    """整改 (the unit handles it again, with its own deadline) or 解释说明."""
    principal = await require(request, SUPERVISORS)
    body = parse_body(ReviewDecision, await read_json_object(request))
    review = await ratings.decide_review(
        request.app[CONTEXT],
        path_id(request.match_info["id"], "差评复核"),
        rectify=body.rectify,
        note=body.note,
        actor=principal.actor,
    )
    return json_response(review_json(review))


class NoteBody(Body):
    note: str = Field(min_length=1, max_length=2000)


@routes.post("/api/v1/reviews/{id}/contact")
async def record_contact(request: web.Request) -> web.Response:
    """The unit reports contacting the citizen about a real-name bad rating."""
    principal = await require(request, DEPARTMENT)
    body = parse_body(NoteBody, await read_json_object(request))
    assert principal.department is not None  # noqa: S101 - department keys have one
    review = await ratings.record_unit_contact(
        request.app[CONTEXT],
        path_id(request.match_info["id"], "差评复核"),
        principal.department,
        body.note,
    )
    return json_response(review_json(review))


class AppealBody(Body):
    reason: str = Field(min_length=1, max_length=2000)


@routes.post("/api/v1/ratings/{id}/appeal")
async def appeal(request: web.Request) -> web.Response:
    """A unit contests a mistaken or malicious rating of its reply."""
    principal = await require(request, DEPARTMENT)
    body = parse_body(AppealBody, await read_json_object(request))
    assert principal.department is not None  # noqa: S101
    made = await ratings.appeal(
        request.app[CONTEXT],
        path_id(request.match_info["id"], "评价"),
        principal.department,
        body.reason,
    )
    return json_response(appeal_json(made), status=201)


@routes.get("/api/v1/appeals")
async def list_appeals(request: web.Request) -> web.Response:
    await require(request, SUPERVISORS)
    status = request.query.get("status", "pending")
    if status not in ("pending", "upheld", "rejected"):
        raise InvalidField("status", "必须是 pending、upheld 或 rejected")
    async with request.app[CONTEXT].db.sessions() as session:
        rows = list(
            await session.scalars(
                select(RatingAppeal)
                .where(RatingAppeal.status == status)
                .order_by(RatingAppeal.created_at)
                .limit(200)
            )
        )
    return json_response({"items": [appeal_json(a) for a in rows]})


class AppealDecision(Body):
    uphold: bool
    note: str | None = Field(default=None, max_length=2000)


@routes.post("/api/v1/appeals/{id}/decision")
async def decide_appeal(request: web.Request) -> web.Response:
    """Upheld: the rating is void (kept, never counted)."""
    principal = await require(request, SUPERVISORS)
    body = parse_body(AppealDecision, await read_json_object(request))
    made = await ratings.decide_appeal(
        request.app[CONTEXT],
        path_id(request.match_info["id"], "申诉"),
        uphold=body.uphold,
        note=body.note,
        actor=principal.actor,
    )
    return json_response(appeal_json(made))


@routes.get("/api/v1/visits")
async def visits_due(request: web.Request) -> web.Response:
    """The agents' return-visit list (待回访), oldest first."""
    await require(request, STAFF)
    tickets = await ratings.pending_visits(request.app[CONTEXT])
    return json_response(
        {
            "items": [
                {
                    "number": t.number,
                    "category": t.category_code,
                    "division": t.division_code,
                    "since": iso(t.updated_at),
                }
                for t in tickets
            ]
        }
    )


class VisitBody(Body):
    reached: bool
    reply_true: bool | None = None
    level: int | None = Field(default=None, ge=1, le=5)
    note: str | None = Field(default=None, max_length=2000)


@routes.post("/api/v1/tickets/{number}/visits")
async def record_visit(request: web.Request) -> web.Response:
    """回访: did the citizen get what the reply says (第五十六条第十项), and their rating."""
    principal = await require(request, STAFF)
    body = parse_body(VisitBody, await read_json_object(request))
    visit = await ratings.return_visit(
        request.app[CONTEXT],
        request.match_info["number"],
        reached=body.reached,
        reply_true=body.reply_true,
        level=body.level,
        note=body.note,
        actor=principal.actor,
    )
    return json_response(visit_json(visit), status=201)


@routes.get("/api/v1/units/{code}/flags")
async def unit_flags(request: web.Request) -> web.Response:
    """Marks on a unit's record (false replies, late contact after bad ratings)."""
    await require(request, SUPERVISORS)
    code = request.match_info["code"]
    async with request.app[CONTEXT].db.sessions() as session:
        rows = [
            (row[0], row[1])
            for row in await session.execute(
                select(UnitFlag, Ticket.number)
                .join(Ticket, Ticket.id == UnitFlag.ticket_id)
                .where(UnitFlag.department_code == code)
                .order_by(UnitFlag.flagged_at.desc())
                .limit(500)
            )
        ]
    return json_response(
        {
            "items": [
                {
                    "id": f.id,
                    "ticket": n,
                    "kind": f.kind,
                    "note": f.note,
                    "flagged_at": iso(f.flagged_at),
                    "flagged_by": f.flagged_by,
                }
                for f, n in rows
            ]
        }
    )
