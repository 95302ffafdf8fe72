"""``/api/v1/tickets``, ``/healthz``, ``/metrics`` through HTTP: contract shapes and bad input."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from hotline.clock import FixedClock
from hotline.config import Settings
from hotline.web.app import create_app
from tests.conftest import make_settings

AUTH = {"Authorization": "Bearer test-admin-token"}
ISO_SHANGHAI = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+08:00$")

ClientFactory = Callable[..., Awaitable[TestClient[Any, web.Application]]]


@pytest.fixture
async def client(
    aiohttp_client: ClientFactory, settings: Settings, clock: FixedClock
) -> TestClient[Any, web.Application]:
    return await aiohttp_client(create_app(settings, clock=clock))


async def post(client: TestClient[Any, web.Application], body: Any, **headers: str) -> Any:
    data = body if isinstance(body, (str, bytes)) else json.dumps(body, ensure_ascii=False)
    return await client.post(
        "/api/v1/tickets",
        data=data,
        headers={**AUTH, "Content-Type": "application/json", **headers},
    )


async def error_of(response: Any, status: int) -> dict[str, str]:
    assert response.status == status, await response.text()
    body = await response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    return dict(body["error"])


async def test_create_then_get(client: TestClient[Any, web.Application]) -> None:
    response = await post(
        client,
        {
            "type": "投诉",
            "content": "北关区洹北街道路灯一周不亮",
            "category": "municipal",
            "division": "410503",
            "address": "洹北街道某路",
            "phone": "13812345678",
        },
    )
    assert response.status == 201
    created = await response.json()
    assert re.fullmatch(r"AY20261126-\d{6}", created["number"])
    assert created["status"] == "received"
    assert created["division"] == "410503"
    assert created["category"] == "municipal"
    assert created["assignments"] == []
    assert [e["action"] for e in created["events"]] == ["received"]
    assert ISO_SHANGHAI.match(created["created_at"])
    got = await client.get(f"/api/v1/tickets/{created['number']}", headers=AUTH)
    assert got.status == 200
    body = await got.json()
    assert body["number"] == created["number"]
    assert body["citizen"]["phone"] == "+8613812345678"


async def test_idempotency_key(client: TestClient[Any, web.Application]) -> None:
    body = {"type": "咨询", "content": "公积金怎么提取"}
    first = await post(client, body, **{"Idempotency-Key": "k-1"})
    again = await post(client, body, **{"Idempotency-Key": "k-1"})
    assert (first.status, again.status) == (201, 200)
    assert (await first.json())["number"] == (await again.json())["number"]
    other = await post(client, {**body, "content": "另一件事"}, **{"Idempotency-Key": "k-1"})
    assert (await error_of(other, 409))["code"] == "duplicate_conflict"


async def test_credentials(client: TestClient[Any, web.Application]) -> None:
    body = json.dumps({"type": "咨询", "content": "x"})
    none = await client.post("/api/v1/tickets", data=body)
    assert (await error_of(none, 401))["code"] == "unauthorized"
    wrong = await client.get("/api/v1/tickets", headers={"Authorization": "Bearer nope"})
    await error_of(wrong, 401)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ("{not json", 400, None),
        ("[1, 2]", 400, None),
        ("", 422, "type"),  # no body: an empty object, its first missing field named
        ({"content": "没有类型"}, 422, "type"),
        ({"type": "投诉"}, 422, "content"),
        ({"type": "投诉", "content": 5}, 422, "content"),
        ({"type": "投诉", "content": "x", "confidential": "yes"}, 422, "confidential"),
        ({"type": "抱怨", "content": "x"}, 422, "type"),
        ({"type": "投诉", "content": "x", "division": "419999"}, 422, "division"),
        ({"type": "投诉", "content": "x", "street": "410502"}, 422, "street"),
        ({"type": "投诉", "content": "x", "category": "nope"}, 422, "category"),
        ({"type": "投诉", "content": "x", "channel": "fax"}, 422, "channel"),
        ({"type": "投诉", "content": "x", "latitude": 91}, 422, "latitude"),
        ({"type": "投诉", "content": "x", "colour": "red"}, 422, "colour"),
        ({"type": "投诉", "content": "   "}, 422, "content"),
    ],
)
async def test_bad_input_gets_a_clear_error(
    client: TestClient[Any, web.Application], body: Any, status: int, field: str | None
) -> None:
    error = await error_of(await post(client, body), status)
    if field is not None:
        assert field in error["message"]


async def test_oversize_and_wrong_media_type(
    aiohttp_client: ClientFactory, database_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    settings = make_settings(database_url, tmp_path, server={"max_body_bytes": 2048})
    client = await aiohttp_client(create_app(settings, clock=clock))
    big = json.dumps({"type": "投诉", "content": "长" * 5000}, ensure_ascii=False)
    assert (await error_of(await post(client, big), 413))["code"] == "too_large"
    form = await client.post("/api/v1/tickets", data={"type": "投诉"}, headers=AUTH)
    assert (await error_of(form, 400))["code"] == "unsupported_media_type"
    nothing = await client.post("/api/v1/tickets", headers=AUTH)  # no body: no fields
    assert "type" in (await error_of(nothing, 422))["message"]


async def test_an_unparseable_phone_is_kept_for_triage(
    client: TestClient[Any, web.Application],
) -> None:
    response = await post(client, {"type": "求助", "content": "帮帮忙", "phone": "打不通"})
    assert response.status == 201
    body = await response.json()
    assert body["triage_reasons"] == ["phone_unparsed"]
    assert body["citizen"] == {
        "name": None,
        "phone": "打不通",
        "phone_parsed": False,
        "real_name": False,
        "needs_assistance": False,
    }


async def test_unknown_ticket_and_route(client: TestClient[Any, web.Application]) -> None:
    await error_of(await client.get("/api/v1/tickets/AY20261126-999999", headers=AUTH), 404)
    await error_of(await client.get("/api/v1/nothing-here", headers=AUTH), 404)
    await error_of(await client.delete("/api/v1/tickets", headers=AUTH), 405)


async def test_list_filters_and_pages(client: TestClient[Any, web.Application]) -> None:
    numbers = []
    for i, division in enumerate(["410502", "410503", "410502", "410505", "410502"]):
        r = await post(client, {"type": "投诉", "content": f"第{i}件", "division": division})
        numbers.append((await r.json())["number"])
    page1 = await (await client.get("/api/v1/tickets?limit=2", headers=AUTH)).json()
    assert [t["number"] for t in page1["items"]] == numbers[::-1][:2]  # newest first
    page2 = await (
        await client.get(f"/api/v1/tickets?limit=2&cursor={page1['next_cursor']}", headers=AUTH)
    ).json()
    page3 = await (
        await client.get(f"/api/v1/tickets?limit=2&cursor={page2['next_cursor']}", headers=AUTH)
    ).json()
    seen = [t["number"] for p in (page1, page2, page3) for t in p["items"]]
    assert seen == numbers[::-1]
    assert page3["next_cursor"] is None
    wf = await (await client.get("/api/v1/tickets?division=410502", headers=AUTH)).json()
    assert len(wf["items"]) == 3
    received = await (await client.get("/api/v1/tickets?status=received", headers=AUTH)).json()
    assert len(received["items"]) == 5
    overdue = await (await client.get("/api/v1/tickets?overdue=true", headers=AUTH)).json()
    assert overdue["items"] == []
    for query, field in (
        ("status=bogus", "status"),
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("cursor=%%%", "cursor"),
        ("overdue=maybe", "overdue"),
    ):
        error = await error_of(await client.get(f"/api/v1/tickets?{query}", headers=AUTH), 422)
        assert field in error["message"]


async def test_healthz_reports_the_uncovered_year(
    client: TestClient[Any, web.Application], clock: FixedClock
) -> None:
    """Degraded once a deadline set today could reach a year with no schedule (2027 today)."""
    response = await client.get("/healthz")
    assert response.status == 200
    body = await response.json()
    assert body["database"] == "ok"
    assert body["calendar"] == {"status": "ok", "uncovered_years": []}  # 26 Nov: all in 2026
    clock.advance(timedelta(days=14))
    body = await (await client.get("/healthz")).json()
    assert body["calendar"] == {"status": "degraded", "uncovered_years": [2027]}
    assert body["status"] == "degraded"
    assert body["version"]


async def test_healthz_is_ok_when_config_supplies_next_year(
    aiohttp_client: ClientFactory, database_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    settings = make_settings(database_url, tmp_path, calendar={"holidays": ["2027-01-01"]})
    client = await aiohttp_client(create_app(settings, clock=clock))
    clock.advance(timedelta(days=14))
    body = await (await client.get("/healthz")).json()
    assert body["status"] == "ok"
    assert body["calendar"] == {"status": "ok", "uncovered_years": []}


async def test_metrics(client: TestClient[Any, web.Application], clock: FixedClock) -> None:
    await post(client, {"type": "咨询", "content": "问一下"})
    clock.advance(timedelta(days=14))
    await client.get("/healthz")
    text = await (await client.get("/metrics")).text()
    assert (
        'hotline_http_requests_total{method="POST",route="/api/v1/tickets",status="201"} 1.0'
        in text
    )
    assert 'hotline_contacts_total{channel="api",outcome="created"} 1.0' in text
    # the API's contact has no number: its batch went the transaction's way on either database
    assert 'hotline_intake_batches_total{way="transaction"} 1.0' in text
    assert 'hotline_intake_batch_contacts_total{way="transaction"} 1.0' in text
    assert 'hotline_intake_batches_total{way="statement"} 0.0' in text
    assert "hotline_calendar_degraded 1.0" in text


async def test_openapi_documents_every_api_route(
    client: TestClient[Any, web.Application],
) -> None:
    response = await client.get("/api/v1/openapi.yaml")
    assert response.status == 200
    doc = yaml.safe_load(await response.text())
    assert doc["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    served = {
        (route.resource.canonical, route.method)
        for route in client.app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/v1")
        and route.method != "HEAD"
    }
    assert served <= documented


def test_openapi_document_is_valid() -> None:
    text = resources.files("hotline.web").joinpath("openapi.yaml").read_text(encoding="utf-8")
    validate(yaml.safe_load(text))
