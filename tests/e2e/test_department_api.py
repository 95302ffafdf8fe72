"""The department API and the supervisors' decisions, through HTTP (CONTRACT.md)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from hotline.clock import FixedClock
from hotline.config import Settings
from hotline.services.keys import create_key
from hotline.web.app import create_app
from hotline.web.keys import CONTEXT

ADMIN = {"Authorization": "Bearer test-admin-token"}
ClientFactory = Callable[..., Awaitable[TestClient[Any, web.Application]]]


class Desk:
    """An HTTP client with the admin token and two department keys (CGJ and GSGS)."""

    def __init__(self, client: TestClient[Any, web.Application]) -> None:
        self.client = client
        self.keys: dict[str, dict[str, str]] = {}

    async def key(self, department: str) -> dict[str, str]:
        if department not in self.keys:
            key = await create_key(self.client.app[CONTEXT], department=department)
            self.keys[department] = {"Authorization": f"Bearer {key}"}
        return self.keys[department]

    async def call(
        self, method: str, path: str, who: dict[str, str], body: Any = None, **headers: str
    ) -> tuple[int, Any]:
        response = await self.client.request(
            method, path, json=body if body is not None else {}, headers={**who, **headers}
        )
        text = await response.text()
        try:
            return response.status, await response.json()
        except ValueError:
            return response.status, text

    async def new_ticket(self, **fields: Any) -> str:
        body = {
            "type": "投诉",
            "content": "北关区洹北街道路灯一周不亮",
            "category": "municipal",
            "division": "410503",
            "phone": "13812345678",
            "name": "王先生",
            **fields,
        }
        status, made = await self.call("POST", "/api/v1/tickets", ADMIN, body)
        assert status == 201, made
        return str(made["number"])

    async def dispatched(self, department: str = "CGJ", **fields: Any) -> str:
        number = await self.new_ticket(**fields)
        status, body = await self.call(
            "POST", f"/api/v1/tickets/{number}/dispatch", ADMIN, {"department": department}
        )
        assert status == 200, body
        return number


@pytest.fixture
async def desk(aiohttp_client: ClientFactory, settings: Settings, clock: FixedClock) -> Desk:
    return Desk(await aiohttp_client(create_app(settings, clock=clock)))


async def test_dispatch_sign_progress_reply(desk: Desk, clock: FixedClock) -> None:
    number = await desk.dispatched()
    cgj = await desk.key("CGJ")
    status, ticket = await desk.call("GET", f"/api/v1/tickets/{number}", cgj)
    assert status == 200 and ticket["status"] == "dispatched"
    lead = ticket["assignments"][0]
    assert lead["department"] == "CGJ" and lead["role"] == "lead"
    assert lead["due_at"] == "2026-12-03T23:59:59+08:00"
    assert lead["return_due_at"] == "2026-11-27T10:00:00+08:00"
    clock.advance(timedelta(minutes=20))
    status, ticket = await desk.call("POST", f"/api/v1/tickets/{number}/sign", cgj)
    assert status == 200 and ticket["status"] == "signed"
    status, ticket = await desk.call(
        "POST", f"/api/v1/tickets/{number}/progress", cgj, {"note": "已安排维修"}
    )
    assert ticket["status"] == "in_progress"
    status, ticket = await desk.call(
        "POST",
        f"/api/v1/tickets/{number}/reply",
        cgj,
        {"content": "已更换路灯灯泡，恢复照明", "contacted_citizen": True},
    )
    assert status == 200 and ticket["status"] == "replied"
    assert ticket["assignments"][0]["reply"] == "已更换路灯灯泡，恢复照明"
    assert [e["action"] for e in ticket["events"]] == [
        "received",
        "dispatched",
        "signed",
        "progress",
        "replied",
    ]


async def test_routing_engine_dispatches_when_no_department_is_named(desk: Desk) -> None:
    water = await desk.new_ticket(category="water", division="410502", content="文峰区停水两天")
    status, ticket = await desk.call("POST", f"/api/v1/tickets/{water}/dispatch", ADMIN)
    assert status == 200, ticket
    assert ticket["assignments"][0]["department"] == "GSGS"  # urban: the water company
    rural = await desk.new_ticket(category="water", division="410527", content="内黄县停水")
    status, ticket = await desk.call("POST", f"/api/v1/tickets/{rural}/dispatch", ADMIN)
    assert ticket["assignments"][0]["department"] == "GOV-410527"  # county: its government
    bare = await desk.new_ticket(category="water", division="410502", content="文峰区又停水")
    response = await desk.client.post(f"/api/v1/tickets/{bare}/dispatch", headers=ADMIN)
    assert response.status == 200, await response.text()  # no body at all: every field optional
    nowhere = await desk.new_ticket(category="sanitation", division=None, content="垃圾没人清")
    status, error = await desk.call("POST", f"/api/v1/tickets/{nowhere}/dispatch", ADMIN)
    assert status == 422 and "department" in error["error"]["message"]


async def test_dispatch_refuses_a_stale_version(desk: Desk) -> None:
    number = await desk.new_ticket()
    status, seen = await desk.call("GET", f"/api/v1/tickets/{number}", ADMIN)
    assert status == 200
    stale = {"department": "CGJ", "expected_version": seen["version"] - 1}
    status, error = await desk.call("POST", f"/api/v1/tickets/{number}/dispatch", ADMIN, stale)
    assert status == 409 and error["error"]["code"] == "version_conflict"
    fresh = {**stale, "expected_version": seen["version"]}
    status, ticket = await desk.call("POST", f"/api/v1/tickets/{number}/dispatch", ADMIN, fresh)
    assert status == 200 and ticket["status"] == "dispatched"


async def test_return_in_time_is_reviewed_and_redispatched(desk: Desk, clock: FixedClock) -> None:
    number = await desk.dispatched()
    cgj = await desk.key("CGJ")
    status, error = await desk.call("POST", f"/api/v1/tickets/{number}/return", cgj, {})
    assert status == 422 and "reason" in error["error"]["message"]
    bare = await desk.client.post(f"/api/v1/tickets/{number}/return", headers=cgj)
    assert bare.status == 422 and "reason" in (await bare.json())["error"]["message"]
    clock.advance(timedelta(hours=5))
    status, ret = await desk.call(
        "POST", f"/api/v1/tickets/{number}/return", cgj, {"reason": "该路段路灯由供电公司维护"}
    )
    assert status == 200 and ret["status"] == "pending"
    status, ticket = await desk.call("GET", f"/api/v1/tickets/{number}", ADMIN)
    assert ticket["status"] == "returned"
    clock.advance(timedelta(hours=1))
    status, ticket = await desk.call(
        "POST",
        f"/api/v1/returns/{ret['id']}/decision",
        ADMIN,
        {"approve": True, "department": "GDGS", "note": "改派供电公司"},
    )
    assert status == 200, ticket
    assert ticket["status"] == "dispatched"
    fresh = next(a for a in ticket["assignments"] if a["department"] == "GDGS")
    assert fresh["dispatched_at"] == "2026-11-26T16:00:00+08:00"  # a fresh clock
    assert fresh["due_at"] == "2026-12-03T23:59:59+08:00"
    status, _ = await desk.call("GET", f"/api/v1/tickets/{number}", await desk.key("GDGS"))
    assert status == 200


async def test_refused_return_goes_back_to_the_unit(desk: Desk) -> None:
    number = await desk.dispatched()
    cgj = await desk.key("CGJ")
    await desk.call("POST", f"/api/v1/tickets/{number}/sign", cgj)
    _, ret = await desk.call(
        "POST", f"/api/v1/tickets/{number}/return", cgj, {"reason": "不是我们的"}
    )
    status, ticket = await desk.call(
        "POST",
        f"/api/v1/returns/{ret['id']}/decision",
        ADMIN,
        {"approve": False, "note": "属职责范围"},
    )
    assert status == 200 and ticket["status"] == "signed"


async def test_return_after_24_hours_is_a_409(desk: Desk, clock: FixedClock) -> None:
    number = await desk.dispatched()
    clock.advance(timedelta(hours=24, minutes=1))
    status, error = await desk.call(
        "POST", f"/api/v1/tickets/{number}/return", await desk.key("CGJ"), {"reason": "不是我们的"}
    )
    assert status == 409 and error["error"]["code"] == "return_window_passed"


async def test_extension_approved_moves_the_due_date(desk: Desk) -> None:
    number = await desk.dispatched()
    cgj = await desk.key("CGJ")
    await desk.call("POST", f"/api/v1/tickets/{number}/sign", cgj)
    status, error = await desk.call(
        "POST", f"/api/v1/tickets/{number}/extension", cgj, {"reason": "需更换电缆"}
    )
    assert status == 422 and "approved_by" in error["error"]["message"]
    status, ext = await desk.call(
        "POST",
        f"/api/v1/tickets/{number}/extension",
        cgj,
        {"reason": "需更换整段电缆，涉及道路开挖审批", "approved_by": "市城管局 张副局长"},
    )
    assert status == 201 and ext["status"] == "pending"
    status, ticket = await desk.call(
        "POST", f"/api/v1/extensions/{ext['id']}/decision", ADMIN, {"approve": True}
    )
    assert status == 200
    assert ticket["due_at"] == "2026-12-10T23:59:59+08:00"
    status, error = await desk.call(
        "POST",
        f"/api/v1/tickets/{number}/extension",
        cgj,
        {"reason": "还要再延", "approved_by": "张副局长"},
    )
    assert status == 409 and error["error"]["code"] == "extension_limit"
    status, error = await desk.call(
        "POST", f"/api/v1/extensions/{ext['id']}/decision", ADMIN, {"approve": True}
    )
    assert status == 409 and error["error"]["code"] == "already_decided"
    status, _ = await desk.call("POST", "/api/v1/extensions/ext-nope/decision", ADMIN, {})
    assert status in (404, 422)


async def test_suspend_needs_its_three_facts(desk: Desk) -> None:
    number = await desk.dispatched()
    cgj = await desk.key("CGJ")
    await desk.call("POST", f"/api/v1/tickets/{number}/sign", cgj)
    status, error = await desk.call(
        "POST",
        f"/api/v1/tickets/{number}/suspend",
        cgj,
        {"progress": "已立项", "measures": "纳入改造计划", "expected_by": "next year"},
    )
    assert status == 422 and "expected_by" in error["error"]["message"]
    status, ticket = await desk.call(
        "POST",
        f"/api/v1/tickets/{number}/suspend",
        cgj,
        {
            "progress": "已立项",
            "measures": "纳入明年道路改造计划",
            "expected_by": "2027-06-30T18:00:00+08:00",
        },
    )
    assert status == 200 and ticket["status"] == "suspended"
    assert ticket["suspension"]["measures"] == "纳入明年道路改造计划"


ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)$")


def times_in(value: Any, path: str = "") -> list[tuple[str, str]]:
    """Every ISO time string anywhere in a JSON value, with where it is."""
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in times_in(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [t for i, v in enumerate(value) for t in times_in(v, f"{path}[{i}]")]
    return [(path, value)] if isinstance(value, str) and ISO_TIME.match(value) else []


async def test_every_time_is_shown_in_shanghai_on_a_utc_server(
    aiohttp_client: ClientFactory, settings: Settings
) -> None:
    """Production clocks run in UTC: nothing the API returns may keep that offset."""
    utc = FixedClock(datetime(2026, 11, 26, 2, 0, tzinfo=UTC))
    desk = Desk(await aiohttp_client(create_app(settings, clock=utc)))
    number = await desk.dispatched()
    cgj = await desk.key("CGJ")
    await desk.call("POST", f"/api/v1/tickets/{number}/sign", cgj)
    suspension = {
        "progress": "已立项",
        "measures": "纳入计划",
        "expected_by": "2027-06-30T10:00:00Z",
    }
    status, _ = await desk.call("POST", f"/api/v1/tickets/{number}/suspend", cgj, suspension)
    assert status == 200
    status, ticket = await desk.call("GET", f"/api/v1/tickets/{number}", ADMIN)
    assert status == 200
    found = times_in(ticket)
    assert (".suspension.expected_by", "2027-06-30T18:00:00+08:00") in found
    assert len(found) > 10 and all(t.endswith("+08:00") for _, t in found), found


async def test_a_unit_cannot_see_or_touch_another_units_tickets(desk: Desk) -> None:
    number = await desk.dispatched("CGJ")
    gsgs = await desk.key("GSGS")
    for method, path, body in [
        ("GET", f"/api/v1/tickets/{number}", None),
        ("POST", f"/api/v1/tickets/{number}/sign", {}),
        ("POST", f"/api/v1/tickets/{number}/progress", {"note": "x"}),
        ("POST", f"/api/v1/tickets/{number}/reply", {"content": "x", "contacted_citizen": False}),
        ("POST", f"/api/v1/tickets/{number}/return", {"reason": "x"}),
        ("POST", f"/api/v1/tickets/{number}/extension", {"reason": "x", "approved_by": "y"}),
        (
            "POST",
            f"/api/v1/tickets/{number}/suspend",
            {"progress": "x", "measures": "y", "expected_by": "2027-01-01T00:00:00+08:00"},
        ),
    ]:
        status, _ = await desk.call(method, path, gsgs, body)
        assert status == 404, (method, path)
    status, page = await desk.call("GET", "/api/v1/tickets", gsgs)
    assert status == 200 and page["items"] == []
    status, page = await desk.call("GET", "/api/v1/tickets", await desk.key("CGJ"))
    assert [t["number"] for t in page["items"]] == [number]
    # units may not do the centre's work
    for path, body in [
        (f"/api/v1/tickets/{number}/dispatch", {"department": "GSGS"}),
        (f"/api/v1/tickets/{number}/supervise", {"note": "x"}),
        ("/api/v1/tickets", {"type": "投诉", "content": "x"}),
    ]:
        status, _ = await desk.call("POST", path, gsgs, body)
        assert status == 403, path
    status, _ = await desk.call("POST", "/api/v1/extensions/x/decision", gsgs, {"approve": True})
    assert status == 403


async def test_confidential_and_report_tickets_hide_the_citizen_from_units(desk: Desk) -> None:
    secret = await desk.dispatched(confidential=True)
    report = await desk.dispatched(type="举报", content="举报某单位违规收费")
    plain = await desk.dispatched()
    cgj = await desk.key("CGJ")
    for number in (secret, report):
        _, ticket = await desk.call("GET", f"/api/v1/tickets/{number}", cgj)
        assert ticket["citizen"]["name"] is None
        assert ticket["citizen"]["phone"] == "138****5678"
        _, staff_view = await desk.call("GET", f"/api/v1/tickets/{number}", ADMIN)
        assert staff_view["citizen"]["phone"] == "+8613812345678"
    _, ticket = await desk.call("GET", f"/api/v1/tickets/{plain}", cgj)
    assert ticket["citizen"]["name"] == "王先生"  # the unit must be able to call back


async def test_idempotency_key_makes_retries_safe(desk: Desk) -> None:
    number = await desk.dispatched()
    cgj = await desk.key("CGJ")
    await desk.call("POST", f"/api/v1/tickets/{number}/sign", cgj)
    body = {"content": "已修复", "contacted_citizen": True}
    first = await desk.call(
        "POST", f"/api/v1/tickets/{number}/reply", cgj, body, **{"Idempotency-Key": "r-1"}
    )
    again = await desk.call(
        "POST", f"/api/v1/tickets/{number}/reply", cgj, body, **{"Idempotency-Key": "r-1"}
    )
    assert first == again and first[0] == 200
    _, ticket = await desk.call("GET", f"/api/v1/tickets/{number}", ADMIN)
    assert [e["action"] for e in ticket["events"]].count("replied") == 1
    # without the key a second reply is refused as an illegal change
    status, error = await desk.call("POST", f"/api/v1/tickets/{number}/reply", cgj, body)
    assert status == 409 and error["error"]["code"] == "illegal_transition"


async def test_centre_actions(desk: Desk) -> None:
    answered = await desk.new_ticket(type="咨询", content="公积金怎么提取")
    status, ticket = await desk.call(
        "POST",
        f"/api/v1/tickets/{answered}/answer",
        ADMIN,
        {"answer": "可在住房公积金网上办事大厅办理提取", "kb_article": "KB-GJJ-001"},
    )
    assert status == 200 and ticket["status"] == "answered"
    rejected = await desk.new_ticket(content="郑州的事")
    status, error = await desk.call(
        "POST", f"/api/v1/tickets/{rejected}/reject", ADMIN, {"reason_code": "x", "guidance": "y"}
    )
    assert status == 422 and "reason_code" in error["error"]["message"]
    status, ticket = await desk.call(
        "POST",
        f"/api/v1/tickets/{rejected}/reject",
        ADMIN,
        {"reason_code": "outside_city", "guidance": "请拨打郑州市12345"},
    )
    assert ticket["status"] == "rejected"
    status, error = await desk.call(
        "POST", f"/api/v1/tickets/{rejected}/dispatch", ADMIN, {"department": "CGJ"}
    )
    assert status == 409
    first = await desk.dispatched()
    dup = await desk.new_ticket()
    status, ticket = await desk.call("POST", f"/api/v1/tickets/{dup}/merge", ADMIN, {"into": first})
    assert status == 200 and ticket["status"] == "merged" and ticket["merged_into"] == first
    status, ticket = await desk.call(
        "POST", f"/api/v1/tickets/{first}/supervise", ADMIN, {"note": "请加快办理"}
    )
    assert ticket["supervision_level"] == 1 and ticket["repeat_count"] == 1


async def test_route_suggest_follows_the_contract(desk: Desk) -> None:
    status, body = await desk.call(
        "POST",
        "/api/v1/route/suggest",
        ADMIN,
        {"text": "北关区豆腐营街道某小学门口流动摊贩占道经营", "address": None},
    )
    assert status == 200
    assert set(body) == {
        "kind",
        "type",
        "category",
        "division",
        "department",
        "emergency",
        "confidence",
        "explanation",
    }
    assert (body["kind"], body["category"], body["division"], body["department"]) == (
        "ticket",
        "street_vendor",
        "410503",
        "GOV-410503",
    )
    status, fire = await desk.call(
        "POST", "/api/v1/route/suggest", ADMIN, {"text": "林州市黄华镇后山着火了，烟很大"}
    )
    assert (fire["kind"], fire["emergency"], fire["department"]) == ("emergency", "119", None)
    status, _ = await desk.call("POST", "/api/v1/route/suggest", ADMIN, {"text": ""})
    assert status == 422
    status, _ = await desk.call(
        "POST", "/api/v1/route/suggest", await desk.key("CGJ"), {"text": "路灯"}
    )
    assert status == 403


async def test_every_decision_names_a_stored_catalogue_version(desk: Desk) -> None:
    water = await desk.new_ticket(category="water", division="410502", content="文峰区停水")
    _, ticket = await desk.call("POST", f"/api/v1/tickets/{water}/dispatch", ADMIN)
    rule = next(e for e in ticket["events"] if e["action"] == "dispatched")["data"]["rule"]
    version = rule.split("@")[1].split(" ")[0]
    status, catalogue = await desk.call("GET", f"/api/v1/routing/catalogues/{version}", ADMIN)
    assert status == 200 and catalogue["version"] == version
    assert any(r["id"] == "default:water" for r in catalogue["rules"])
    _, current = await desk.call("GET", "/api/v1/routing/catalogues/current", ADMIN)
    assert current["version"] == version
    status, _ = await desk.call("GET", "/api/v1/routing/catalogues/nope", ADMIN)
    assert status == 404


async def test_hotspots_are_flagged_for_special_study(desk: Desk, clock: FixedClock) -> None:
    for i in range(4):
        await desk.new_ticket(
            category="street_vendor", street="410503-豆腐营街道", content=f"学校门口流动摊贩占道{i}"
        )
        clock.advance(timedelta(hours=5))
    status, page = await desk.call("GET", "/api/v1/hotspots?refresh=true", ADMIN)
    assert status == 200 and page["items"] == []  # four is not yet five
    fifth = await desk.new_ticket(
        category="street_vendor", street="410503-豆腐营街道", content="又是摊贩"
    )
    await desk.new_ticket(category="street_vendor", street="410503-红旗路街道", content="别处")
    _, page = await desk.call("GET", "/api/v1/hotspots?refresh=true", ADMIN)
    assert len(page["items"]) == 1
    spot = page["items"][0]
    assert (spot["category"], spot["division"], spot["street"], spot["reports"]) == (
        "street_vendor",
        "410503",
        "410503-豆腐营街道",
        5,
    )
    assert spot["tickets"][-1] == fifth
    status, done = await desk.call(
        "POST",
        f"/api/v1/hotspots/{spot['id']}/studied",
        ADMIN,
        {"note": "已会同区城管局制定校园周边整治方案"},
    )
    assert status == 200 and done["status"] == "studied"
    _, page = await desk.call("GET", "/api/v1/hotspots", ADMIN)
    assert page["items"] == []
    status, _ = await desk.call("GET", "/api/v1/hotspots", await desk.key("CGJ"))
    assert status == 403


async def test_a_county_delegates_to_its_own_streets(desk: Desk) -> None:
    number = await desk.new_ticket(
        category="sanitation", division="410503", content="北关区豆腐营街道垃圾堆了一周"
    )
    _, ticket = await desk.call("POST", f"/api/v1/tickets/{number}/dispatch", ADMIN)
    assert ticket["assignments"][0]["department"] == "GOV-410503"
    county = await desk.key("GOV-410503")
    await desk.call("POST", f"/api/v1/tickets/{number}/sign", county)
    status, error = await desk.call(
        "POST", f"/api/v1/tickets/{number}/delegate", county, {"department": "GOV-410502-东关街道"}
    )
    assert status == 422 and "不属于" in error["error"]["message"]
    status, ticket = await desk.call(
        "POST",
        f"/api/v1/tickets/{number}/delegate",
        county,
        {"department": "GOV-410503-豆腐营街道"},
    )
    assert status == 200, ticket
    street = next(a for a in ticket["assignments"] if a["department"] == "GOV-410503-豆腐营街道")
    lead = next(a for a in ticket["assignments"] if a["role"] == "lead")
    assert street["role"] == "co" and street["due_at"] <= lead["due_at"]
    status, seen = await desk.call(
        "GET", f"/api/v1/tickets/{number}", await desk.key("GOV-410503-豆腐营街道")
    )
    assert status == 200 and seen["number"] == number
    # a unit that is not the lead cannot delegate
    status, _ = await desk.call(
        "POST",
        f"/api/v1/tickets/{number}/delegate",
        await desk.key("CGJ"),
        {"department": "GOV-410503-豆腐营街道"},
    )
    assert status == 404
