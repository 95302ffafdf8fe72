"""Bad input to the console's pages and actions gets a clear 4xx, never a 500."""

from __future__ import annotations

import io

import pytest

from tests.e2e.console.support import Client, form_token, sign_in

ADMIN = {"Authorization": "Bearer test-admin-token"}


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/console/tickets?status=bogus", 422),
        ("/console/tickets?q=" + "查" * 500, 200),
        ("/console/tickets?q=%25_%25", 200),
        ("/console/tickets/%3Cscript%3E", 404),
        ("/console/tickets/" + "A" * 300, 404),
        ("/console/desk/caller?call=" + "x" * 500, 200),
        ("/console/desk/caller?phone=not-a-phone", 200),
        ("/console/ws", 400),  # not a WebSocket handshake
        ("/console/static/../../config.py", 404),
        ("/console/nothing-here", 404),
    ],
)
async def test_pages(client: Client, path: str, status: int) -> None:
    await sign_in(client, "supervisor1")
    response = await client.get(path)
    assert response.status == status, await response.text()


async def test_actions(client: Client) -> None:
    token = await sign_in(client, "agent1")
    created = await client.post(
        "/api/v1/tickets", json={"type": "咨询", "content": "社保卡补办"}, headers=ADMIN
    )
    number = (await created.json())["number"]
    headers = {"X-CSRF-Token": token}
    url = f"/console/api/tickets/{number}"
    cases = [
        (f"{url}/dispatch", b"not json", {"Content-Type": "application/json"}, 400, "malformed"),
        (f"{url}/dispatch", b"[]", {"Content-Type": "application/json"}, 400, "malformed"),
        (f"{url}/dispatch", b"x=1", {"Content-Type": "text/plain"}, 400, "unsupported_media_type"),
        (
            f"{url}/dispatch",
            b'{"department": "NOPE", "expected_version": 1}',
            {},
            422,
            "invalid_field",
        ),
        (
            f"{url}/dispatch",
            b'{"department": "CGJ", "expected_version": "1"}',
            {},
            422,
            "invalid_field",
        ),
        (f"{url}/amend", b'{"category": "nope", "expected_version": 1}', {}, 422, "invalid_field"),
        (
            f"{url}/amend",
            '{"type": "闲聊", "expected_version": 1}'.encode(),
            {},
            422,
            "invalid_field",
        ),
        (f"{url}/amend", b'{"expected_version": 1}', {}, 422, "invalid_field"),
        (f"{url}/amend", b'{"urgency": "now", "expected_version": 1}', {}, 422, "invalid_field"),
        (
            "/console/api/tickets/AY-nope/amend",
            '{"type": "求助", "expected_version": 1}'.encode(),
            {},
            404,
            "not_found",
        ),
    ]
    for path, body, extra, status, code in cases:
        response = await client.post(
            path, data=body, headers={"Content-Type": "application/json", **headers, **extra}
        )
        assert response.status == status, (path, body, await response.text())
        assert (await response.json())["error"]["code"] == code


async def test_sign_in_form(client: Client) -> None:
    wrong_type = await client.post("/console/login", json={"username": "agent1"})
    assert wrong_type.status == 415
    page = await client.get("/console/login")
    empty = await client.post(
        "/console/login", data={"csrf_token": form_token(await page.text()), "username": ""}
    )
    assert empty.status == 422
    huge = await client.post(
        "/console/login",
        data=io.BytesIO(b"username=" + b"x" * 2_000_000),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert huge.status == 413
