"""Open311 GeoReport v2 at /open311/v2/ through HTTP: every endpoint in .json and .xml, the
filters, creating requests with a platform key, and what must never be public."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from xml.etree.ElementTree import Element

import pytest
from aiohttp import FormData, web
from aiohttp.test_utils import TestClient
from defusedxml.ElementTree import fromstring

from hotline.clock import FixedClock
from hotline.config import Settings
from hotline.domain.intake import IntakeValue
from hotline.domain.vocabulary import Channel
from hotline.services import intake
from hotline.services.keys import create_key
from hotline.web.app import create_app
from hotline.web.keys import CONTEXT
from tests.conftest import DEFAULT_NOW

ADMIN = {"Authorization": "Bearer test-admin-token"}
BASE = "/open311/v2"
ISO_SHANGHAI = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+08:00$")
REQUEST_FIELDS = [
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
]
#: XML elements that hold a list (GeoReport names each list's item element)
LISTS = {"services", "service_requests", "errors", "endpoints", "formats", "attributes", "values"}

PHONE = "13812345678"
NAME = "王先生"

Client = TestClient[Any, web.Application]
ClientFactory = Callable[..., Awaitable[Client]]


@pytest.fixture
async def client(aiohttp_client: ClientFactory, settings: Settings, clock: FixedClock) -> Client:
    return await aiohttp_client(create_app(settings, clock=clock))


@pytest.fixture
async def api_key(client: Client) -> str:
    return await create_key(client.app[CONTEXT], platform="open311-fixmystreet")


# -- helpers -------------------------------------------------------------------------------------


def from_xml(element: Element) -> Any:
    """An Open311 XML document as the JSON one would read (texts for scalars)."""
    if element.tag in LISTS:
        return [from_xml(child) for child in element]
    if len(element):
        return {child.tag: from_xml(child) for child in element}
    return element.text


def as_text(value: Any) -> Any:
    """A JSON document with every scalar as XML writes it."""
    if isinstance(value, list):
        return [as_text(v) for v in value]
    if isinstance(value, dict):
        return {k: as_text(v) for k, v in value.items()}
    if isinstance(value, bool):
        return "true" if value else "false"
    return None if value is None else str(value)


class Seen:
    """Every Open311 body this test received, to scan for personal data at the end."""

    def __init__(self) -> None:
        self.bodies: list[str] = []


async def get(
    client: Client, path: str, seen: Seen | None = None, **params: str
) -> tuple[int, Any]:
    response = await client.get(f"{BASE}/{path}", params=params)
    text = await response.text()
    if seen is not None:
        seen.bodies.append(text)
    if path.endswith(".xml"):
        assert response.content_type == "text/xml"
        assert text.startswith("<?xml version='1.0' encoding='UTF-8'?>")
        return response.status, fromstring(text.encode())
    assert response.content_type == "application/json", text
    return response.status, json.loads(text)


async def both(client: Client, path: str, seen: Seen | None = None, **params: str) -> Any:
    """GET ``path.json`` and ``path.xml``; they must say the same; the JSON body."""
    status, body = await get(client, f"{path}.json", seen, **params)
    xml_status, root = await get(client, f"{path}.xml", seen, **params)
    assert xml_status == status
    assert from_xml(root) == as_text(body)
    return status, body, root


async def post(
    client: Client, form: dict[str, str], fmt: str = "json", **headers: str
) -> tuple[int, Any]:
    response = await client.post(f"{BASE}/requests.{fmt}", data=form, headers=headers)
    text = await response.text()
    if fmt == "xml":
        return response.status, fromstring(text.encode())
    return response.status, json.loads(text)


def error_of(body: Any, status: int) -> str:
    """The description of an Open311 error list (JSON) with this code."""
    assert isinstance(body, list) and len(body) == 1, body
    assert set(body[0]) == {"code", "description"}
    assert body[0]["code"] == status
    return str(body[0]["description"])


async def new_ticket(client: Client, **fields: Any) -> str:
    body = {
        "type": "投诉",
        "content": "北关区洹北街道路灯一周不亮",
        "category": "municipal",
        "division": "410503",
        "address": "洹北街道红旗路口",
        "latitude": 36.11,
        "longitude": 114.35,
        "phone": PHONE,
        "name": NAME,
        **fields,
    }
    response = await client.post("/api/v1/tickets", json=body, headers=ADMIN)
    assert response.status == 201, await response.text()
    return str((await response.json())["number"])


async def act(client: Client, number: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(f"/api/v1/tickets/{number}/{action}", json=body, headers=ADMIN)
    assert response.status == 200, await response.text()
    result: dict[str, Any] = await response.json()
    return result


async def listed(client: Client, **params: str) -> list[str]:
    status, body = await get(client, "requests.json", **params)
    assert status == 200, body
    return [r["service_request_id"] for r in body]


def form(key: str, **fields: str) -> dict[str, str]:
    return {
        "api_key": key,
        "jurisdiction_id": "anyang",
        "service_code": "municipal",
        "lat": "36.0996",
        "long": "114.3925",
        "description": "文峰大道与中华路交叉口井盖缺失",
        **fields,
    }


# -- discovery and services ----------------------------------------------------------------------


async def test_discovery(client: Client) -> None:
    status, body, root = await both(client, "discovery")
    assert status == 200 and root.tag == "discovery"
    assert ISO_SHANGHAI.match(body["changeset"])
    assert "12345" in body["contact"] and body["key_service"]
    (endpoint,) = body["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2")
    assert endpoint["type"] == "production"
    assert endpoint["formats"] == ["text/xml", "application/json"]


async def test_services_are_the_categories(client: Client) -> None:
    status, body, root = await both(client, "services")
    assert status == 200 and root.tag == "services"
    assert all(child.tag == "service" for child in root)
    ref = await client.app[CONTEXT].reference.get()
    assert [s["service_code"] for s in body] == sorted(ref.categories)
    by_code = {s["service_code"]: s for s in body}
    water = by_code["water"]
    assert set(water) == {
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    }
    assert water["service_name"] == ref.categories["water"].name
    assert water["metadata"] is True and water["type"] == "realtime"
    assert water["group"] == "安阳市供水公司"
    assert water["keywords"] == "供水, 停水, 水压, 水质, 水费"
    # an exclusion in a name is not a keyword
    assert "非泄漏" not in by_code["gas"]["keywords"]
    assert by_code["property"]["group"] == "县（市、区）人民政府"
    assert "市区由市城市管理局办理" in by_code["municipal"]["description"]


async def test_service_definition(client: Client) -> None:
    status, body, root = await both(client, "services/municipal")
    assert status == 200 and root.tag == "service_definition"
    assert body["service_code"] == "municipal"
    attributes = {a["code"]: a for a in body["attributes"]}
    assert set(attributes) == {"type", "division"}
    for a in attributes.values():
        assert a["variable"] is True and a["datatype"] == "singlevaluelist"
        assert a["required"] is False and isinstance(a["order"], int)
    types = {v["key"]: v["name"] for v in attributes["type"]["values"]}
    assert types["complaint"] == "投诉" and "举报" not in types.values()
    divisions = {v["key"]: v["name"] for v in attributes["division"]["values"]}
    assert divisions["410503"] == "北关区"
    status, body, root = await both(client, "services/no_such_service")
    assert status == 404 and root.tag == "errors"
    assert "no_such_service" in error_of(body, 404)
    assert root.find("error/code") is not None and root.findtext("error/code") == "404"


# -- reading requests ----------------------------------------------------------------------------


async def test_one_request_in_both_formats(client: Client) -> None:
    number = await new_ticket(client)
    ticket = await act(client, number, "dispatch", {"department": "CGJ"})
    status, body, root = await both(client, f"requests/{number}")
    assert status == 200 and root.tag == "service_requests"
    assert [child.tag for child in root] == ["request"]
    assert [child.tag for child in root[0]] == REQUEST_FIELDS
    (request,) = body
    assert list(request) == REQUEST_FIELDS
    assert request["service_request_id"] == number
    assert request["status"] == "open"
    assert request["status_notes"] == "已派单"
    assert request["service_code"] == "municipal"
    assert request["service_name"] == "市政设施(路灯/井盖/道路破损)"
    assert request["description"] == "北关区洹北街道路灯一周不亮"
    assert request["agency_responsible"] == "市城市管理局"
    assert request["service_notice"].startswith("承办单位应于")
    assert request["requested_datetime"] == "2026-11-26T10:00:00+08:00"
    assert ISO_SHANGHAI.match(request["updated_datetime"])
    assert request["expected_datetime"] == ticket["due_at"]
    assert ISO_SHANGHAI.match(request["expected_datetime"])
    assert request["address"] == "洹北街道红旗路口"
    assert (request["lat"], request["long"]) == (36.11, 114.35)
    assert request["media_url"] is None and request["address_id"] is None
    # GET requests.json?service_request_id= says the same
    assert await get(client, "requests.json", service_request_id=number) == (200, body)
    # unknown ids are a 404 in the asked format
    status, body, root = await both(client, "requests/AY20261126-999999")
    assert status == 404 and root.tag == "errors"
    error_of(body, 404)


async def test_status_open_and_closed(client: Client) -> None:
    opened = await new_ticket(client)
    answered = await new_ticket(client, category="water", content="停水什么时候恢复")
    await act(client, answered, "answer", {"answer": "预计今晚八点恢复供水"})
    _, body = await get(client, f"requests/{answered}.json")
    assert body[0]["status"] == "closed"
    assert body[0]["status_notes"] == "已直接答复"
    assert body[0]["agency_responsible"] == "安阳市12345政务服务便民热线"
    assert await listed(client, status="open") == [opened]
    assert await listed(client, status="closed") == [answered]
    assert set(await listed(client, status="open,closed")) == {opened, answered}
    status, body = await get(client, "requests.xml", status="pending")
    assert status == 400 and body.findtext("error/code") == "400"


async def test_filters(client: Client, clock: FixedClock) -> None:
    today = await new_ticket(client)
    water = await new_ticket(client, category="water", content="水压低")
    clock.set(DEFAULT_NOW - timedelta(days=30))
    month_ago = await new_ticket(client)
    clock.set(DEFAULT_NOW - timedelta(days=100))
    long_ago = await new_ticket(client)
    clock.set(DEFAULT_NOW)

    # default: the last 90 days, newest first
    assert await listed(client) == [water, today, month_ago]
    assert await listed(client, service_code="water") == [water]
    assert await listed(client, service_code="water,municipal") == [water, today, month_ago]
    assert await listed(client, service_code="no_such_service") == []
    # start_date alone: 90 days from it; end_date alone: 90 days up to it
    assert await listed(client, start_date="2026-11-01T00:00:00+08:00") == [water, today]
    assert await listed(client, end_date="2026-11-01") == [month_ago, long_ago]
    assert await listed(client, end_date="2026-11-20") == [month_ago]
    assert await listed(client, start_date="2026-08-01", end_date="2026-10-29") == [
        month_ago,
        long_ago,
    ]
    # a date alone is a whole day in Asia/Shanghai; Z and offsets are honoured
    assert await listed(client, start_date="2026-11-26", end_date="2026-11-26") == [water, today]
    assert await listed(client, start_date="2026-11-26T01:59:59Z") == [water, today]
    assert await listed(client, start_date="2026-11-26T02:00:01Z") == []
    # a "+" sent unencoded arrives as a space
    response = await client.get(f"{BASE}/requests.json?start_date=2026-11-26T10:00:00+08:00")
    assert [r["service_request_id"] for r in await response.json()] == [water, today]
    # service_request_id overrides every other filter, the 90 days included
    assert set(
        await listed(client, service_request_id=f"{long_ago}, {today}", service_code="water")
    ) == {long_ago, today}

    for params, word in [
        ({"start_date": "yesterday"}, "start_date"),
        ({"end_date": "2026-13-01"}, "end_date"),
        ({"start_date": "2026-01-01", "end_date": "2026-11-01"}, "90"),
        ({"start_date": "2026-11-02", "end_date": "2026-11-01"}, "end_date"),
        ({"start_date": "0001-01-01"}, "start_date"),
    ]:
        status, body = await get(client, "requests.json", **params)
        assert word in error_of(body, 400), params
        assert status == 400


async def test_confidential_reports_and_unclassified_are_never_public(client: Client) -> None:
    public = await new_ticket(client, phone="13900001111")
    secret = await new_ticket(client, confidential=True, phone="13700002222", name="李女士")
    # the same citizen's later ticket: they asked for confidentiality once, so it stays hidden
    same_citizen = await new_ticket(client, phone="13700002222", name="李女士")
    report = await new_ticket(client, type="举报", content="某单位工作人员收受红包")
    ctx = client.app[CONTEXT]
    sms = await intake.take_in(
        ctx,
        IntakeValue(
            channel=Channel.SMS,
            channel_ref="SM-unclassified",
            received_at=ctx.clock.now(),
            content="反映某局领导违规操办婚宴",
        ),
    )
    hidden = [secret, same_citizen, report, sms.number]
    assert await listed(client) == [public]
    assert await listed(client, service_request_id=",".join([*hidden, public])) == [public]
    for number in hidden:
        for fmt in ("json", "xml"):
            status, _ = await get(client, f"requests/{number}.{fmt}")
            assert status == 404


async def test_redaction_of_free_text(client: Client) -> None:
    content = (
        f"我是{NAME}，电话 138-1234-5678，座机0372-5921234，"
        "身份证410502199001011234，邮箱wang@example.com，请联系13900001111<&>\x01"
    )
    number = await new_ticket(client, content=content, address=f"{NAME}家门口")
    _, body = await get(client, f"requests/{number}.json")
    _, root = await get(client, f"requests/{number}.xml")
    description = body[0]["description"]
    for secret in (
        NAME,
        "138-1234-5678",
        "5921234",
        "410502199001011234",
        "wang@example.com",
        "13900001111",
    ):
        assert secret not in description
    assert description.startswith("我是***，电话 *************，座机")
    assert "<&>" in description and "\x01" in description
    assert root.findtext("request/description") == description.replace("\x01", "")
    assert body[0]["address"] == "***家门口"


# -- creating requests ---------------------------------------------------------------------------


async def test_post_creates_once_and_tokens_resolve(client: Client, api_key: str) -> None:
    fields = form(
        api_key,
        first_name="小明",
        last_name="张",
        phone="13812340000",
        email="zhang@example.com",
        device_id="device-1",
        account_id="fms-42",
        media_url="https://fixmystreet.example/photo/1.jpg",
        **{"attribute[type]": "help", "attribute[division]": "410502"},
    )
    status, body = await post(client, fields)
    assert status == 201, body
    (made,) = body
    assert set(made) == {"service_request_id", "token", "service_notice", "account_id"}
    number, token = made["service_request_id"], made["token"]
    assert re.fullmatch(r"AY20261126-\d{6}", number)
    assert made["account_id"] == "fms-42"
    assert number in made["service_notice"] and "5个工作日" in made["service_notice"]

    # a retry (the same form, even as XML) is the same request, not a second ticket
    status, root = await post(client, fields, "xml")
    assert status == 200
    assert root.tag == "service_requests"
    assert root.findtext("request/service_request_id") == number
    assert root.findtext("request/token") == token
    assert await listed(client) == [number]

    # the ticket, as the centre sees it: classified as asked, the citizen on record
    response = await client.get(f"/api/v1/tickets/{number}", headers=ADMIN)
    ticket = await response.json()
    assert ticket["channel"] == "platform"
    assert ticket["type"] == "求助"
    assert ticket["category"] == "municipal"
    assert ticket["division"] == "410502"
    assert (ticket["latitude"], ticket["longitude"]) == (36.0996, 114.3925)
    assert ticket["citizen"]["phone"] == "+8613812340000"
    assert ticket["citizen"]["name"] == "张小明"
    assert ticket["events"][0]["actor"] == {
        "kind": "platform",
        "id": "open311-fixmystreet",
        "department": None,
    }

    seen = Seen()
    _, body, _ = await both(client, f"requests/{number}", seen)
    assert body[0]["status"] == "open" and body[0]["service_code"] == "municipal"
    assert body[0]["agency_responsible"] == "安阳市12345政务服务便民热线"
    status, body, root = await both(client, f"tokens/{token}", seen)
    assert status == 200 and root.tag == "service_requests"
    assert body == [{"token": token, "service_request_id": number}]
    for unknown in ("0" * 32, "not-a-token"):
        status, body, _ = await both(client, f"tokens/{unknown}")
        assert status == 404
        error_of(body, 404)
    for text in seen.bodies:
        for secret in ("13812340000", "张小明", "小明", "zhang@example.com", "device-1"):
            assert secret not in text


async def test_post_with_idempotency_key(client: Client, api_key: str) -> None:
    first = form(api_key, description="路灯不亮")
    status, body = await post(client, first, **{"Idempotency-Key": "fms-report-7"})
    assert status == 201
    number = body[0]["service_request_id"]
    again = {**first, "device_id": "another-device"}  # a retry may differ in what it carries
    status, body = await post(client, again, **{"Idempotency-Key": "fms-report-7"})
    assert status == 200 and body[0]["service_request_id"] == number
    other = {**first, "description": "另一件事"}
    status, body = await post(client, other, **{"Idempotency-Key": "fms-report-7"})
    assert status == 409
    error_of(body, 409)
    # without the key, a different form is a different request
    status, body = await post(client, other)
    assert status == 201 and body[0]["service_request_id"] != number


async def test_post_needs_a_platform_key(client: Client, api_key: str) -> None:
    department_key = await create_key(client.app[CONTEXT], department="CGJ")
    for key in (None, "", "hk_nope_nope", api_key + "x", department_key):
        fields = form(key or "")
        if key is None:
            del fields["api_key"]
        for fmt in ("json", "xml"):
            status, body = await post(client, fields, fmt)
            assert status == 403
            if fmt == "xml":
                assert body.tag == "errors" and body.findtext("error/code") == "403"
            else:
                assert "api_key" in error_of(body, 403)
    assert await listed(client) == []


@pytest.mark.parametrize(
    ("change", "status", "word"),
    [
        ({"service_code": None}, 400, "service_code"),
        ({"service_code": "no_such_service"}, 404, "no_such_service"),
        ({"lat": None, "long": None}, 400, "address_string"),
        ({"long": None}, 400, "long"),
        ({"lat": "north"}, 400, "lat"),
        ({"lat": "91"}, 400, "lat"),
        ({"long": "nan"}, 400, "long"),
        ({"lat": None, "long": None, "address_id": "12"}, 400, "address_id"),
        ({"description": "长" * 4001}, 400, "description"),
        ({"attribute[type]": "report"}, 400, "attribute[type]"),
        ({"attribute[type]": "举报"}, 400, "attribute[type]"),
        ({"attribute[division]": "999999"}, 400, "attribute[division]"),
    ],
)
async def test_post_refuses_bad_forms(
    client: Client, api_key: str, change: dict[str, str | None], status: int, word: str
) -> None:
    fields = form(api_key)
    for name, value in change.items():
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = value
    got, body = await post(client, fields)
    assert got == status, body
    assert word in error_of(body, status)
    got, root = await post(client, fields, "xml")
    assert got == status and root.findtext("error/code") == str(status)
    assert await listed(client) == []


async def test_post_with_address_only(client: Client, api_key: str) -> None:
    fields = form(api_key, address_string="北关区红旗路 18 号", **{"attribute[division]": "北关区"})
    del fields["lat"], fields["long"]
    status, body = await post(client, fields)
    assert status == 201, body
    _, got = await get(client, f"requests/{body[0]['service_request_id']}.json")
    assert got[0]["address"] == "北关区红旗路 18 号"
    assert got[0]["lat"] is None and got[0]["long"] is None


async def test_post_refuses_files(client: Client, api_key: str) -> None:
    data = FormData(form(api_key))
    data.add_field("media", b"\x89PNG", filename="photo.png", content_type="image/png")
    response = await client.post(f"{BASE}/requests.json", data=data)
    assert response.status == 400
    assert "media_url" in error_of(await response.json(), 400)


# -- privacy across everything -------------------------------------------------------------------


async def test_no_personal_data_in_any_response(client: Client, api_key: str) -> None:
    seen = Seen()
    numbers = [
        await new_ticket(client, content=f"{NAME}反映：路灯不亮，回电{PHONE}"),
        await new_ticket(client, category="water", content="停水", address=f"{NAME}家"),
    ]
    await act(client, numbers[0], "dispatch", {"department": "CGJ"})
    status, made = await post(
        client, form(api_key, first_name="先生", last_name="王", phone=PHONE, email="w@x.cn")
    )
    assert status == 201
    seen.bodies.append(json.dumps(made, ensure_ascii=False))
    numbers.append(made[0]["service_request_id"])
    await both(client, "requests", seen)
    await both(client, "requests", seen, service_request_id=",".join(numbers))
    for number in numbers:
        await both(client, f"requests/{number}", seen)
    await both(client, f"tokens/{made[0]['token']}", seen)
    await both(client, "services", seen)
    await both(client, "discovery", seen)
    assert len(seen.bodies) == 1 + 2 * (2 + len(numbers) + 3)
    for text in seen.bodies:
        for secret in (PHONE, "8613812345678", NAME, "w@x.cn"):
            assert secret not in text, text


# -- the edges -----------------------------------------------------------------------------------


async def test_unknown_paths_methods_and_formats(client: Client) -> None:
    status, body = await get(client, "nothing.json")
    assert status == 404
    error_of(body, 404)
    status, root = await get(client, "requests/a/b.xml")
    assert status == 404 and root.findtext("error/code") == "404"
    status, body = await get(client, "services.csv")
    assert "xml" in error_of(body, 400) and status == 400
    response = await client.put(f"{BASE}/requests.xml")
    assert response.status == 405
    assert response.headers["Allow"] == "GET, HEAD, POST"
    root = fromstring(await response.read())
    assert root.findtext("error/code") == "405"


async def test_post_too_large_is_an_open311_error(
    aiohttp_client: ClientFactory, settings: Settings, clock: FixedClock
) -> None:
    small = settings.model_copy(
        update={
            "config": settings.config.model_copy(
                update={
                    "server": settings.config.server.model_copy(update={"max_body_bytes": 2048})
                }
            )
        }
    )
    client = await aiohttp_client(create_app(small, clock=clock))
    key = await create_key(client.app[CONTEXT], platform="open311-test")
    status, root = await post(client, form(key, description="长" * 3000), "xml")
    assert status == 413 and root.findtext("error/code") == "413"
