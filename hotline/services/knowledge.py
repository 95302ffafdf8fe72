"""The knowledge base (知识库): versioned articles and Chinese search, for answering on the spot.

Search scores articles by the query's character bigrams (how Chinese is searched without a
word segmenter: every two-character window of "公积金提取" — 公积, 积金, 金提, 提取 — is a
term), weighting title and keywords above the body, plus whole ASCII words. Articles are few
(hundreds to a few thousand), so the active ones are read and scored in memory per search.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from hotline.domain.errors import Conflict, InvalidField, NotFound
from hotline.services.context import Context
from hotline.storage.knowledge import KbArticle, KbArticleVersion
from hotline.storage.reference import Category

_HAN = re.compile(r"[\u4e00-\u9fff]+")
_WORD = re.compile(r"[A-Za-z0-9]+")


def terms(text: str) -> set[str]:
    """Bigrams of every run of Chinese characters (and the single character of a 1-char run),
    plus lower-cased ASCII words."""
    found: set[str] = set()
    for run in _HAN.findall(text):
        if len(run) == 1:
            found.add(run)
        found.update(run[i : i + 2] for i in range(len(run) - 1))
    found.update(w.lower() for w in _WORD.findall(text))
    return found


@dataclass(frozen=True)
class Hit:
    code: str
    title: str
    body: str
    category: str | None
    version: int
    score: float


def score(query: set[str], title: str, keywords: Iterable[str], body: str) -> float:
    if not query:
        return 0.0
    in_title = query & terms(title)
    in_keywords = query & terms(" ".join(keywords))
    in_body = query & terms(body)
    raw = 3 * len(in_title) + 2 * len(in_keywords) + len(in_body)
    covered = len(in_title | in_keywords | in_body) / len(query)
    return round(raw * covered, 3)


async def search(
    ctx: Context, query: str, *, category: str | None = None, limit: int = 10
) -> list[Hit]:
    wanted = terms(query)
    stmt = select(KbArticle).where(KbArticle.active.is_(True))
    if category is not None:
        stmt = stmt.where(KbArticle.category_code == category)
    async with ctx.db.sessions() as session:
        articles = list(await session.scalars(stmt))
    hits = [
        Hit(
            a.code,
            a.title,
            a.body,
            a.category_code,
            a.version,
            score(wanted, a.title, a.keywords or [], a.body),
        )
        for a in articles
    ]
    ranked = sorted(
        (h for h in hits if h.score > 0 or not wanted), key=lambda h: (-h.score, h.code)
    )
    return ranked[:limit]


async def get_article(ctx: Context, code: str) -> tuple[KbArticle, list[KbArticleVersion]]:
    async with ctx.db.sessions() as session:
        article = await session.get(KbArticle, code)
        if article is None:
            raise NotFound(f"知识库文章 {code} 不存在")
        versions = list(
            await session.scalars(
                select(KbArticleVersion)
                .where(KbArticleVersion.code == code)
                .order_by(KbArticleVersion.version)
            )
        )
    return article, versions


async def save_article(
    ctx: Context,
    code: str,
    *,
    title: str,
    body: str,
    category: str | None,
    keywords: list[str],
    editor: str,
    active: bool = True,
    expected_version: int | None = None,
) -> KbArticle:
    """Create an article or publish its next version; every version is kept."""
    if not code.strip() or not title.strip() or not body.strip():
        raise InvalidField("article", "编号、标题和正文都不能为空")
    now = ctx.clock.now()
    async with ctx.db.sessions() as session, session.begin():
        if category is not None and await session.get(Category, category) is None:
            raise InvalidField("category", f"未知的诉求分类: {category}")
        article = await session.get(KbArticle, code)
        if article is None:
            if expected_version not in (None, 0):
                raise NotFound(f"知识库文章 {code} 不存在")
            article = KbArticle(code=code, version=0)
            session.add(article)
        elif expected_version is not None and expected_version != article.version:
            raise Conflict(
                f"文章 {code} 已被他人修改(版本 {article.version})", code="version_conflict"
            )
        article.version += 1
        article.title, article.body, article.category_code = title, body, category
        article.keywords, article.active = keywords, active
        article.updated_at, article.updated_by = now, editor
        session.add(
            KbArticleVersion(
                code=code,
                version=article.version,
                title=title,
                body=body,
                keywords=keywords,
                active=active,
                edited_at=now,
                edited_by=editor,
            )
        )
    return article


async def cite(ctx: Context, code: str) -> str:
    """The reference an answer records: ``CODE@vN`` of the version in force now."""
    async with ctx.db.sessions() as session:
        article = await session.get(KbArticle, code)
    if article is None or not article.active:
        raise InvalidField("kb_article", f"知识库中没有有效的文章 {code}")
    return f"{code}@v{article.version}"
