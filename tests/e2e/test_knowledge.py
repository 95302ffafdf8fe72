"""The knowledge base: versioned articles, Chinese search, answers that cite a version."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from hotline.clock import FixedClock
from hotline.config import Settings
from hotline.services.knowledge import terms
from hotline.web.app import create_app

ADMIN = {"Authorization": "Bearer test-admin-token"}
ClientFactory = Callable[..., Awaitable[TestClient[Any, web.Application]]]


@pytest.fixture
async def client(
    aiohttp_client: ClientFactory, settings: Settings, clock: FixedClock
) -> TestClient[Any, web.Application]:
    return await aiohttp_client(create_app(settings, clock=clock))


def test_chinese_terms_are_bigrams() -> None:
    assert terms("公积金提取") == {"公积", "积金", "金提", "提取"}
    assert terms("办 ETC 卡") == {"办", "etc", "卡"}


async def test_search_finds_the_demo_articles(client: TestClient[Any, web.Application]) -> None:
    found = await (await client.get("/api/v1/kb?q=怎么提取公积金", headers=ADMIN)).json()
    assert found["items"][0]["code"] == "KB-GJJ-001"
    by_category = await (await client.get("/api/v1/kb?q=过户&category=power", headers=ADMIN)).json()
    assert [h["code"] for h in by_category["items"]] == ["KB-DF-001"]
    nothing = await (await client.get("/api/v1/kb?q=火星移民", headers=ADMIN)).json()
    assert nothing["items"] == []


async def test_articles_are_versioned_and_answers_cite_the_version(
    client: TestClient[Any, web.Application],
) -> None:
    made = await client.put(
        "/api/v1/kb/KB-TEST-1",
        json={"title": "测试文章", "body": "第一版正文", "keywords": ["测试"]},
        headers=ADMIN,
    )
    assert made.status == 201 and (await made.json())["version"] == 1
    edited = await client.put(
        "/api/v1/kb/KB-TEST-1",
        json={"title": "测试文章", "body": "第二版正文", "expected_version": 1},
        headers=ADMIN,
    )
    assert edited.status == 200 and (await edited.json())["version"] == 2
    stale = await client.put(
        "/api/v1/kb/KB-TEST-1",
        json={"title": "测试文章", "body": "过期的修改", "expected_version": 1},
        headers=ADMIN,
    )
    assert stale.status == 409
    article = await (await client.get("/api/v1/kb/KB-TEST-1", headers=ADMIN)).json()
    assert [v["body"] for v in article["versions"]] == ["第一版正文", "第二版正文"]
    ticket = await (
        await client.post(
            "/api/v1/tickets", json={"type": "咨询", "content": "问一下"}, headers=ADMIN
        )
    ).json()
    answered = await client.post(
        f"/api/v1/tickets/{ticket['number']}/answer",
        json={"answer": "请参考测试文章", "kb_article": "KB-TEST-1"},
        headers=ADMIN,
    )
    body = await answered.json()
    assert body["status"] == "answered"
    assert body["events"][-1]["data"]["kb_article"] == "KB-TEST-1@v2"
    missing = await client.post(
        f"/api/v1/tickets/{ticket['number']}/answer",
        json={"answer": "x", "kb_article": "KB-NOPE"},
        headers=ADMIN,
    )
    assert missing.status == 422
