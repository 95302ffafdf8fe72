"""Sign-in, sessions, CSRF and roles of the console, through HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from yarl import URL

from hotline.clock import FixedClock
from tests.e2e.console.support import Client, form_token, page_token, sign_in

SUPERVISOR_PAGES = [
    "/console/wallboard",
    "/console/returns",
    "/console/extensions",
    "/console/duplicates",
    "/console/escalation",
    "/console/hotspots",
    "/console/outbox",
]
STAFF_PAGES = ["/console/desk", "/console/triage", "/console/tickets"]


@pytest.mark.parametrize(
    ("username", "home"),
    [
        ("agent1", "/console/desk"),
        ("supervisor1", "/console/wallboard"),
        ("admin", "/console/wallboard"),
        ("gsgs", "/console/department"),
    ],
)
async def test_each_role_lands_on_its_own_page(client: Client, username: str, home: str) -> None:
    page = await client.get("/console/login")
    response = await client.post(
        "/console/login",
        data={
            "username": username,
            "password": "hotline-demo",
            "csrf_token": form_token(await page.text()),
        },
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == home
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    again = await client.get("/console", allow_redirects=False)
    assert again.headers["Location"] == home


async def test_pages_need_a_session_and_come_back_after_sign_in(client: Client) -> None:
    response = await client.get("/console/triage?x=1", allow_redirects=False)
    assert response.status == 302
    location = URL(response.headers["Location"])
    assert location.path == "/console/login"
    assert location.query["next"] == "/console/triage?x=1"
    page = await client.get(response.headers["Location"])
    html = await page.text()
    assert 'name="next" value="/console/triage?x=1"' in html
    signed = await client.post(
        "/console/login",
        data={
            "username": "agent1",
            "password": "hotline-demo",
            "csrf_token": form_token(html),
            "next": "/console/triage?x=1",
        },
        allow_redirects=False,
    )
    assert signed.headers["Location"] == "/console/triage?x=1"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/mailbox"])
async def test_sign_in_never_redirects_off_the_console(client: Client, target: str) -> None:
    page = await client.get("/console/login")
    response = await client.post(
        "/console/login",
        data={
            "username": "agent1",
            "password": "hotline-demo",
            "csrf_token": form_token(await page.text()),
            "next": target,
        },
        allow_redirects=False,
    )
    assert response.headers["Location"] == "/console/desk"


async def test_a_sign_in_without_the_form_token_is_refused(client: Client) -> None:
    await client.get("/console/login")
    response = await client.post(
        "/console/login",
        data={"username": "agent1", "password": "hotline-demo"},
        allow_redirects=False,
    )
    assert response.status == 403
    assert "页面已过期" in await response.text()
    assert "hotline_console" not in response.cookies


async def test_wrong_passwords_are_throttled_per_user_name(
    client: Client, other: Client, clock: FixedClock
) -> None:
    async def attempt(c: Client, username: str, password: str) -> int:
        page = await c.get("/console/login")
        response = await c.post(
            "/console/login",
            data={
                "username": username,
                "password": password,
                "csrf_token": form_token(await page.text()),
            },
            allow_redirects=False,
        )
        if response.status == 429:
            assert int(response.headers["Retry-After"]) > 0
            assert "登录失败次数过多" in await response.text()
        return response.status

    for _ in range(5):
        assert await attempt(client, "agent1", "wrong-password") == 401
    # locked now, even with the right password, from anywhere
    assert await attempt(client, "agent1", "hotline-demo") == 429
    assert await attempt(other, "agent1", "hotline-demo") == 429
    # another user is not affected
    assert await attempt(other, "agent2", "hotline-demo") == 303
    # the lock ends with the window
    clock.advance(timedelta(minutes=16))
    assert await attempt(client, "agent1", "hotline-demo") == 303


async def test_unknown_users_get_the_same_answer_as_wrong_passwords(client: Client) -> None:
    page = await client.get("/console/login")
    response = await client.post(
        "/console/login",
        data={
            "username": "nobody",
            "password": "whatever-1",
            "csrf_token": form_token(await page.text()),
        },
        allow_redirects=False,
    )
    assert response.status == 401
    assert "用户名或密码错误" in await response.text()


async def test_cookie_calls_to_the_api_need_the_csrf_header(client: Client) -> None:
    token = await sign_in(client, "agent1")
    listed = await client.get("/api/v1/tickets")
    assert listed.status == 200
    body = {"type": "咨询", "content": "请问公积金怎么提取"}
    refused = await client.post("/api/v1/tickets", json=body)
    assert refused.status == 403
    assert (await refused.json())["error"]["code"] == "csrf_failed"
    forged = await client.post("/api/v1/tickets", json=body, headers={"X-CSRF-Token": "0" * 64})
    assert forged.status == 403
    created = await client.post("/api/v1/tickets", json=body, headers={"X-CSRF-Token": token})
    assert created.status == 201
    number = (await created.json())["number"]
    # the console's own actions too
    action = await client.post(
        f"/console/api/tickets/{number}/amend", json={"type": "求助", "expected_version": 1}
    )
    assert action.status == 403
    assert (await action.json())["error"]["code"] == "csrf_failed"
    # and signing out
    out = await client.post("/console/logout", data={}, allow_redirects=False)
    assert out.status == 403
    assert (await client.get("/console/desk")).status == 200


async def test_a_bearer_key_needs_no_csrf_header(client: Client) -> None:
    response = await client.post(
        "/api/v1/tickets",
        json={"type": "咨询", "content": "请问社保卡怎么补办"},
        headers={"Authorization": "Bearer test-admin-token"},
    )
    assert response.status == 201


async def test_an_agent_cannot_open_supervisor_pages_or_act_as_one(client: Client) -> None:
    token = await sign_in(client, "agent1")
    for path in [*SUPERVISOR_PAGES, "/console/department"]:
        response = await client.get(path)
        assert response.status == 403, path
        assert "无权访问" in await response.text()
    fragment = await client.get("/console/wallboard?fragment=1")
    assert fragment.status == 403
    decision = await client.post(
        "/api/v1/extensions/anything/decision",
        json={"approve": True},
        headers={"X-CSRF-Token": token},
    )
    assert decision.status == 403
    hotspots = await client.get("/api/v1/hotspots")
    assert hotspots.status == 403


async def test_a_department_user_sees_only_the_department_desk(client: Client) -> None:
    token = await sign_in(client, "gsgs")
    for path in STAFF_PAGES + SUPERVISOR_PAGES:
        assert (await client.get(path)).status == 403, path
    assert (await client.get("/console/department")).status == 200
    created = await client.post(
        "/api/v1/tickets",
        json={"type": "咨询", "content": "x"},
        headers={"X-CSRF-Token": token},
    )
    assert created.status == 403


async def test_every_page_renders_for_a_supervisor(client: Client) -> None:
    await sign_in(client, "supervisor1")
    for path in STAFF_PAGES + SUPERVISOR_PAGES:
        page = await client.get(path)
        assert page.status == 200, path
        html = await page.text()
        assert "Content-Security-Policy" in page.headers
        assert page.headers["X-Frame-Options"] == "DENY"
        assert page_token(html)
        if path == "/console/desk":
            path = "/console/desk/calls"  # the desk's live region
        fragment = await client.get(path + "?fragment=1")
        assert fragment.status == 200, path
        assert "<html" not in await fragment.text()


async def test_a_forged_or_altered_cookie_signs_nobody_in(client: Client) -> None:
    await sign_in(client, "supervisor1")
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))["hotline_console"]
    token, _, mac = cookie.value.partition(".")
    client.session.cookie_jar.update_cookies(
        {"hotline_console": f"{token[:-1]}{'A' if token[-1] != 'A' else 'B'}.{mac}"},
        response_url=client.make_url("/"),
    )
    response = await client.get("/console/wallboard", allow_redirects=False)
    assert response.status == 302
    api = await client.get("/api/v1/tickets")
    assert api.status == 401


async def test_signing_out_ends_the_session_everywhere(client: Client, other: Client) -> None:
    token = await sign_in(client, "agent1")
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))["hotline_console"]
    other.session.cookie_jar.update_cookies(
        {"hotline_console": cookie.value}, response_url=other.make_url("/")
    )
    assert (await other.get("/console/desk")).status == 200
    out = await client.post("/console/logout", data={"csrf_token": token}, allow_redirects=False)
    assert out.status == 303
    assert (await other.get("/console/desk", allow_redirects=False)).status == 302
    assert (await other.get("/api/v1/tickets")).status == 401


async def test_sessions_end_when_idle_or_too_old(client: Client, clock: FixedClock) -> None:
    await sign_in(client, "agent1")
    clock.advance(timedelta(minutes=59))
    assert (await client.get("/console/desk")).status == 200
    clock.advance(timedelta(minutes=61))
    assert (await client.get("/console/desk", allow_redirects=False)).status == 302
    await sign_in(client, "agent1")
    for _ in range(14):  # active all along, but a session lasts 12 hours
        clock.advance(timedelta(minutes=55))
        await client.get("/console/desk", allow_redirects=False)
    assert (await client.get("/console/desk", allow_redirects=False)).status == 302
