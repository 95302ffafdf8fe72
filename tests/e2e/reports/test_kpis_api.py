"""``GET /api/v1/kpis`` and ``GET /api/v1/kpis/ranking``: supervisors' numbers over HTTP."""

from __future__ import annotations

from typing import Any

from hotline.services.keys import create_key
from hotline.web.keys import CONTEXT
from tests.e2e.reports.test_public_evaluations import Client, client, rated_ticket

__all__ = ["client"]

ADMIN = {"Authorization": "Bearer test-admin-token"}


async def get(client: Client, url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    response = await client.get(url, headers=ADMIN if headers is None else headers)
    return response.status, await response.json()


async def test_kpis_by_unit_and_the_ranking(client: Client) -> None:
    ctx = client.app[CONTEXT]
    await rated_ticket(ctx, reply="已修复。", level=1)
    await rated_ticket(ctx, reply="已修复。", level=4, phone="+8613900001111", name=None)

    status, body = await get(client, "/api/v1/kpis?period=2026-11")
    assert status == 200, body
    assert body["period"]["label"] == "2026-11" and body["period"]["start"].endswith("+08:00")
    assert body["by"] is None and body["groups"] == []
    overall = body["overall"]
    assert overall["tickets"] == 2 and overall["ratings"] == 2
    assert overall["indicators"]["satisfaction"] == {"numerator": 1, "denominator": 2, "rate": 0.5}
    assert overall["indicators"]["sign_on_time"]["rate"] == 1.0
    assert overall["indicators"]["first_contact"] == {"numerator": 0, "denominator": 2, "rate": 0.0}
    assert body["names"]["satisfaction"] == "满意率"

    status, body = await get(client, "/api/v1/kpis?period=2026-W48&by=unit")
    assert status == 200
    (cgj,) = [g for g in body["groups"] if g["key"] == "CGJ"]
    assert cgj["name"] == "市城市管理局" and cgj["assignments"] == 2
    assert cgj["indicators"]["connection"] is None  # calls have no unit
    assert cgj["indicators"]["on_time"]["rate"] == 1.0

    for by in ("division", "category"):
        status, body = await get(client, f"/api/v1/kpis?period=2026-11-26&by={by}")
        assert status == 200 and len(body["groups"]) == 1

    status, body = await get(client, "/api/v1/kpis/ranking?year=2026")
    assert status == 200, body
    assert body["year"] == 2026 and body["weights"]["on_time"] == 0.35
    (item,) = body["items"]
    assert item["department"] == "CGJ" and item["rank"] is None  # too few to rank (min 5)
    # 100 × (0.35 on time + 0.30 × 0.5 satisfied + 0.10 signed + 0.10 + 0.10 + 0.05)
    assert item["score"] == 85.0


async def test_kpis_are_for_supervisors_and_bad_input_is_a_422(client: Client) -> None:
    assert (await client.get("/api/v1/kpis?period=2026-11")).status == 401
    key = await create_key(client.app[CONTEXT], department="CGJ")
    status, body = await get(
        client, "/api/v1/kpis?period=2026-11", {"Authorization": f"Bearer {key}"}
    )
    assert status == 403
    for url in (
        "/api/v1/kpis",
        "/api/v1/kpis?period=2026-13",
        "/api/v1/kpis?period=soon",
        "/api/v1/kpis?period=2026-11&by=street",
        "/api/v1/kpis/ranking",
        "/api/v1/kpis/ranking?year=20x6",
        "/api/v1/kpis/ranking?year=1999",
        "/api/v1/kpis/ranking?year=" + "9" * 5000,
    ):
        status, body = await get(client, url)
        assert status == 422, url
        assert body["error"]["code"] == "invalid_field"
