"""``POST /api/v1/route/suggest``: what the routing engine makes of a text (CONTRACT.md)."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field
from sqlalchemy import select

from dispatch import hotspots
from dispatch.auto import engine, suggest_for
from hotline.domain.errors import InvalidField, NotFound
from hotline.domain.vocabulary import ActorKind
from hotline.storage.hotspots import Hotspot
from hotline.storage.routing import RoutingCatalogue
from hotline.web.api.bodies import Body, parse_body, path_id
from hotline.web.api.serialize import iso
from hotline.web.auth import require
from hotline.web.errors import read_json_object
from hotline.web.jsonresp import json_response
from hotline.web.keys import CONTEXT

routes = web.RouteTableDef()


class SuggestBody(Body):
    text: str = Field(min_length=1, max_length=20_000)
    address: str | None = Field(default=None, max_length=500)


@routes.post("/api/v1/route/suggest")
async def route_suggest(request: web.Request) -> web.Response:
    await require(request, (ActorKind.ADMIN, ActorKind.AGENT, ActorKind.SUPERVISOR))
    body = parse_body(SuggestBody, await read_json_object(request))
    found = await suggest_for(request.app[CONTEXT], body.text, body.address)
    return json_response(found.to_json())


@routes.get("/api/v1/routing/catalogues/{version}")
async def catalogue(request: web.Request) -> web.Response:
    """The rules of a catalogue version, as recorded by dispatch decisions (``rule@version``);
    ``current`` names the one in force."""
    await require(request, (ActorKind.ADMIN, ActorKind.AGENT, ActorKind.SUPERVISOR))
    ctx = request.app[CONTEXT]
    version = request.match_info["version"]
    if version == "current":
        version = str((await engine(ctx)).catalogue.version)
    async with ctx.db.sessions() as session:
        row = await session.get(RoutingCatalogue, version)
    if row is None:
        raise NotFound(f"派单目录版本 {version} 不存在")
    return json_response(
        {
            "version": row.version,
            "rules": row.rules,
            "urban_divisions": row.urban_divisions,
            "counties": row.counties,
            "created_at": iso(row.created_at),
        }
    )


def hotspot_json(h: Hotspot) -> dict[str, object]:
    return {
        "id": h.id,
        "category": h.category_code,
        "division": h.division_code,
        "street": h.place or None,
        "reports": h.reports,
        "tickets": list(h.ticket_numbers or []),
        "first_seen": iso(h.first_seen),
        "last_seen": iso(h.last_seen),
        "flagged_at": iso(h.flagged_at),
        "status": h.status,
        "note": h.note,
    }


@routes.get("/api/v1/hotspots")
async def list_hotspots(request: web.Request) -> web.Response:
    """Matters reported together and again (第五十条第三款), refreshed by the scheduler;
    ``?refresh=true`` looks again now."""
    await require(request, (ActorKind.ADMIN, ActorKind.SUPERVISOR))
    ctx = request.app[CONTEXT]
    if request.query.get("refresh") in ("1", "true"):
        await hotspots.refresh(ctx)
    status = request.query.get("status", "open")
    if status not in ("open", "studied"):
        raise InvalidField("status", "必须是 open 或 studied")
    async with ctx.db.sessions() as session:
        rows = list(
            await session.scalars(
                select(Hotspot).where(Hotspot.status == status).order_by(Hotspot.reports.desc())
            )
        )
    return json_response({"items": [hotspot_json(h) for h in rows]})


class StudiedBody(Body):
    note: str = Field(min_length=1, max_length=2000)


@routes.post("/api/v1/hotspots/{id}/studied")
async def studied(request: web.Request) -> web.Response:
    """专题研究 done: record what was decided."""
    await require(request, (ActorKind.ADMIN, ActorKind.SUPERVISOR))
    body = parse_body(StudiedBody, await read_json_object(request))
    hotspot_id = path_id(request.match_info["id"], "热点")
    spot = await hotspots.mark_studied(request.app[CONTEXT], hotspot_id, body.note)
    if spot is None:
        raise NotFound("热点不存在")
    return json_response(hotspot_json(spot))
