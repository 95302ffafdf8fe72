"""A console session as a bearer key for the JSON API (CONTRACT.md: "... or a console session")."""

from __future__ import annotations

from tests.e2e.console.support import PASSWORD, Client, sign_in


async def api_session(client: Client, username: str, password: str = PASSWORD) -> str:
    response = await client.post(
        "/api/v1/sessions", json={"username": username, "password": password}
    )
    assert response.status == 201, await response.text()
    body = await response.json()
    assert body["user"]["username"] == username
    assert body["expires_at"].endswith("+08:00")
    return str(body["token"])


async def test_a_session_token_works_as_a_bearer_key_without_csrf(client: Client) -> None:
    token = await api_session(client, "agent1")
    auth = {"Authorization": f"Bearer {token}"}
    made = await client.post(
        "/api/v1/tickets", json={"type": "咨询", "content": "社保卡怎么补办"}, headers=auth
    )
    assert made.status == 201, await made.text()
    number = (await made.json())["number"]
    answered = await client.post(
        f"/api/v1/tickets/{number}/answer", json={"answer": "携带身份证到社保大厅"}, headers=auth
    )
    assert answered.status == 200
    events = (await answered.json())["events"]
    assert events[-1]["actor"]["id"] == "agent1"  # the user, not a key, is on the history
    # the agent's role still applies: supervisors' decisions are not theirs
    denied = await client.post("/api/v1/extensions/x/decision", json={}, headers=auth)
    assert denied.status == 403

    out = await client.delete("/api/v1/sessions/current", headers=auth)
    assert out.status == 204
    after = await client.get(f"/api/v1/tickets/{number}", headers=auth)
    assert after.status == 401


async def test_a_department_session_sees_only_its_own(client: Client) -> None:
    token = await api_session(client, "gsgs")
    listing = await client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {token}"})
    assert listing.status == 200
    assert all(
        any(a["department"] == "GSGS" for a in t["assignments"])
        for t in (await listing.json())["items"]
    )


async def test_wrong_password_and_bad_bodies(client: Client) -> None:
    wrong = await client.post(
        "/api/v1/sessions", json={"username": "agent1", "password": "not-the-password"}
    )
    assert wrong.status == 401 and (await wrong.json())["error"]["code"] == "unauthorized"
    missing = await client.post("/api/v1/sessions", json={"username": "agent1"})
    assert missing.status == 422 and "password" in (await missing.json())["error"]["message"]
    garbage = await client.post(
        "/api/v1/sessions", data=b"{", headers={"Content-Type": "application/json"}
    )
    assert garbage.status == 400
    nobody = await client.delete("/api/v1/sessions/current")
    assert nobody.status == 401


async def test_sign_in_is_throttled_like_the_form(client: Client) -> None:
    for _ in range(5):
        await client.post("/api/v1/sessions", json={"username": "agent2", "password": "nope-nope"})
    locked = await client.post(
        "/api/v1/sessions", json={"username": "agent2", "password": PASSWORD}
    )
    assert locked.status == 429
    assert int(locked.headers["Retry-After"]) > 0


async def test_the_cookie_session_signs_out_with_its_csrf_token(client: Client) -> None:
    csrf = await sign_in(client, "supervisor1")
    refused = await client.delete("/api/v1/sessions/current")
    assert refused.status == 403  # a cookie alone could be a forged cross-site request
    out = await client.delete("/api/v1/sessions/current", headers={"X-CSRF-Token": csrf})
    assert out.status == 204
    assert (await client.get("/api/v1/tickets")).status == 401
