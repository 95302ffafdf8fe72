"""``/api/v1/kb``: the knowledge base agents search and cite when answering on the spot."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field

from hotline.domain.errors import InvalidField
from hotline.domain.vocabulary import ActorKind
from hotline.services import knowledge
from hotline.storage.knowledge import KbArticle, KbArticleVersion
from hotline.web.api.bodies import Body, parse_body
from hotline.web.api.serialize import iso
from hotline.web.auth import require
from hotline.web.errors import read_json_object
from hotline.web.jsonresp import json_response
from hotline.web.keys import CONTEXT

STAFF = (ActorKind.ADMIN, ActorKind.AGENT, ActorKind.SUPERVISOR)
EDITORS = (ActorKind.ADMIN, ActorKind.SUPERVISOR)

routes = web.RouteTableDef()


def article_json(a: KbArticle) -> dict[str, Any]:
    return {
        "code": a.code,
        "title": a.title,
        "body": a.body,
        "category": a.category_code,
        "keywords": list(a.keywords or []),
        "version": a.version,
        "active": a.active,
        "updated_at": iso(a.updated_at),
        "updated_by": a.updated_by,
    }


def version_json(v: KbArticleVersion) -> dict[str, Any]:
    return {
        "version": v.version,
        "title": v.title,
        "body": v.body,
        "keywords": list(v.keywords or []),
        "active": v.active,
        "edited_at": iso(v.edited_at),
        "edited_by": v.edited_by,
    }


@routes.get("/api/v1/kb")
async def search(request: web.Request) -> web.Response:
    await require(request, STAFF)
    q = request.query.get("q", "")
    if len(q) > 200:
        raise InvalidField("q", "查询不能超过 200 个字符")
    hits = await knowledge.search(
        request.app[CONTEXT], q, category=request.query.get("category") or None
    )
    return json_response(
        {
            "items": [
                {
                    "code": h.code,
                    "title": h.title,
                    "body": h.body,
                    "category": h.category,
                    "version": h.version,
                    "score": h.score,
                }
                for h in hits
            ]
        }
    )


@routes.get("/api/v1/kb/{code}")
async def get_article(request: web.Request) -> web.Response:
    await require(request, STAFF)
    article, versions = await knowledge.get_article(
        request.app[CONTEXT], request.match_info["code"]
    )
    return json_response({**article_json(article), "versions": [version_json(v) for v in versions]})


class ArticleBody(Body):
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=20_000)
    category: str | None = Field(default=None, max_length=64)
    keywords: list[str] = Field(default_factory=list, max_length=50)
    active: bool = True
    expected_version: int | None = None


@routes.put("/api/v1/kb/{code}")
async def save_article(request: web.Request) -> web.Response:
    """Create the article, or publish its next version (``expected_version`` guards edits)."""
    principal = await require(request, EDITORS)
    body = parse_body(ArticleBody, await read_json_object(request))
    code = request.match_info["code"]
    if len(code) > 64:
        raise InvalidField("code", "编号不能超过 64 个字符")
    article = await knowledge.save_article(
        request.app[CONTEXT],
        code,
        title=body.title,
        body=body.body,
        category=body.category,
        keywords=body.keywords,
        editor=principal.actor.label,
        active=body.active,
        expected_version=body.expected_version,
    )
    return json_response(article_json(article), status=201 if article.version == 1 else 200)
