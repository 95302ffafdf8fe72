#!/usr/bin/env python3
"""Regenerate the console's screenshots in ``docs/screenshots/`` (1366×768, and the desk at 150%
zoom) from a demo scenario: a fresh SQLite database with the Anyang demo data, tickets from every
channel, units at work, a caller on the line, a dead letter and a hotspot.

    python scripts/screenshots.py [--out docs/screenshots]

Needs Python Playwright and Debian's chromium (``apt-get install -y chromium``); Chinese text
needs a CJK font (``apt-get install -y fonts-wqy-microhei`` or ``fonts-noto-cjk``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select, update

from dispatch import hotspots
from dispatch.service import dispatch_to, request_extension, request_return
from hotline.bootstrap import bootstrap
from hotline.calendar import SHANGHAI
from hotline.clock import FixedClock
from hotline.config import load_settings
from hotline.domain.lifecycle import SYSTEM, Actor, Progress, Reply, Sign
from hotline.domain.vocabulary import ActorKind
from hotline.logs import configure_logging
from hotline.services.outbox import Outgoing, enqueue
from hotline.services.seed import seed_demo
from hotline.services.tickets import perform
from hotline.storage import migrate
from hotline.storage.outbox import OutboxMessage
from hotline.storage.users import User
from tests.browser.support import (
    SERVER_CONFIG,
    LiveServer,
    browser_missing,
    call_form,
    chromium,
    live_server,
    server_environ,
    sign_in,
)
from tests.twilio_player import ACCOUNT_SID

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 26, 10, 30, tzinfo=SHANGHAI)  # a Thursday, a working day
CALLER = "+8613812345678"

TICKETS: list[tuple[str, str, str, str | None]] = [
    # channel, type, content, phone
    (
        "phone",
        "投诉",
        "文峰区东关街道建设路小区停水三天了，家里有老人，至今没有通知何时恢复。",
        CALLER,
    ),
    ("sms", "投诉", "北关区洹北街道红旗路路灯一周不亮，晚上出行很不安全。", "+8613900001111"),
    ("wechat", "举报", "殷都区水冶镇有工厂夜间偷排污水，河道发黑发臭。", "+8613900002222"),
    ("mailbox", "建议", "建议在龙安区马家乡增开一班到市区的公交车，早高峰太挤。", "+8613900003333"),
    (
        "platform",
        "求助",
        "汤阴县城关镇某建筑工地拖欠农民工工资三个月，请帮忙协调。",
        "+8613900004444",
    ),
    ("phone", "咨询", "请问住房公积金租房提取需要哪些材料？", "+8613900005555"),
    ("sms", "投诉", "高新区某小区物业不作为，电梯坏了半个月没人修。", "+8613900006666"),
    ("wechat", "投诉", "文峰区东关街道建设路小区还是没水，已经第三天了！", CALLER),
    ("api", "投诉", "北关区洹北街道附近工地夜间施工噪音扰民，影响休息。", "+8613900007777"),
]


def _settings(db: Path) -> Any:
    config = db.parent / "config.yaml"
    config.write_text("logging: {format: console, level: WARNING}\n", encoding="utf-8")
    env = {
        **server_environ(),
        "HOTLINE_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "HOTLINE_ADMIN_TOKEN": "test-admin-token",
    }
    return load_settings(str(config), environ=env, overrides=SERVER_CONFIG)


async def _prepare(settings: Any) -> None:
    ctx = bootstrap(settings)
    try:
        await migrate.upgrade(ctx.db.engine)
        await seed_demo(ctx)
    finally:
        await ctx.db.dispose()


async def populate(server: LiveServer, clock: FixedClock) -> dict[str, str]:
    """The demo day, as the supervisor finds it at 10:30."""
    ctx = server.ctx
    numbers: list[str] = []
    clock.set(NOW - timedelta(days=8))
    for i, (channel, kind, content, phone) in enumerate(TICKETS):
        if i == 3:
            clock.set(NOW - timedelta(hours=30))
        if i == 6:
            clock.set(NOW - timedelta(minutes=40))
        created = await server.api(
            "POST",
            "/api/v1/tickets",
            {"type": kind, "content": content, "phone": phone, "channel": channel},
        )
        numbers.append(created["number"])
        clock.advance(timedelta(minutes=7))
    water, lights, sewage, bus, wages, _fund, _lift, again, noise = numbers
    unit = {code: Actor(ActorKind.DEPARTMENT, code.lower(), code) for code in ("GSGS", "CGJ")}
    clock.set(NOW - timedelta(days=8, hours=-1))
    await dispatch_to(ctx, lights, "CGJ", SYSTEM)  # overdue by now
    await perform(ctx, lights, Sign("CGJ"), unit["CGJ"])
    clock.set(NOW - timedelta(hours=20))
    await dispatch_to(ctx, water, "GSGS", SYSTEM)
    await perform(ctx, water, Sign("GSGS"), unit["GSGS"])
    await perform(ctx, water, Progress("GSGS", "已派抢修队排查管网"), unit["GSGS"])
    await request_extension(
        ctx, water, "GSGS", "主管网破裂，需协调交通管制后开挖抢修", "王经理", unit["GSGS"]
    )
    await dispatch_to(ctx, sewage, "STHJ", SYSTEM)
    await dispatch_to(ctx, bus, "GSGS", SYSTEM)
    await request_return(
        ctx, bus, "GSGS", "公交线路调整不属于供水公司职责，建议改派市交通运输局", unit["GSGS"]
    )
    await dispatch_to(ctx, wages, "GOV-410523", SYSTEM)
    clock.set(NOW - timedelta(hours=3))
    await dispatch_to(ctx, noise, "CGJ", SYSTEM)
    await perform(ctx, noise, Sign("CGJ"), unit["CGJ"])
    await perform(ctx, noise, Reply("CGJ", "已责令施工方22时后停止作业", True), unit["CGJ"])
    # hotspot: repeated reports at one street
    for i in range(5):
        await server.api(
            "POST",
            "/api/v1/tickets",
            {
                "type": "投诉",
                "content": f"东关街道建设路一带停水（第{i + 1}位反映）",
                "category": "water",
                "division": "410502",
                "street": "410502-东关街道",
                "channel": "phone",
            },
        )
    clock.set(NOW - timedelta(minutes=5))
    await hotspots.refresh(ctx)
    # a dead letter
    async with ctx.db.sessions() as session, session.begin():
        await enqueue(
            session,
            [
                Outgoing(
                    kind="sms",
                    key="demo-dead-1",
                    recipient="+8613900001111",
                    body=f"【安阳12345】您的诉求已受理，工单编号{lights}。",
                    purpose="accepted",
                )
            ],
            clock.now(),
        )
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.key == "demo-dead-1")
            .values(
                status="dead",
                attempts=8,
                last_error="Twilio 21610: 该号码已退订短信",
                dead_at=clock.now(),
            )
        )
    # agents, and callers on the line
    clock.set(NOW)
    await server.api(
        "PUT", "/api/v1/agents/agent2/state", {"state": "available", "phone": "+863722000002"}
    )
    await server.twilio("/twilio/voice", call_form("CA" + "7" * 32, "+8613900008888"))
    await server.twilio(
        "/twilio/voice/queue",
        call_form("CA" + "7" * 32, "+8613900008888", CallStatus="in-progress"),
    )
    await asyncio.sleep(0.3)
    await server.twilio("/twilio/voice", call_form("CA" + "8" * 32, "+8613900009999"))
    await server.twilio(
        "/twilio/voice/queue",
        call_form("CA" + "8" * 32, "+8613900009999", CallStatus="in-progress"),
    )
    return {"water": water, "lights": lights, "again": again}


async def _agent_id(server: LiveServer, username: str) -> int:
    async with server.ctx.db.sessions() as session:
        found = await session.scalar(select(User.id).where(User.username == username))
    assert found is not None  # noqa: S101 - the demo users exist
    return int(found)


async def run(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = _settings(Path(tmp) / "demo.db")
        configure_logging(settings.config.logging)
        await _prepare(settings)
        clock = FixedClock(NOW)
        async with live_server(settings, clock=clock) as server, chromium() as browser:
            numbers = await populate(server, clock)

            async def shot(page: Any, name: str) -> None:
                await page.wait_for_timeout(400)  # let live regions settle
                await page.screenshot(path=str(out / f"{name}.png"))
                print(f"{out / name}.png")

            login = await (
                await browser.new_context(viewport={"width": 1366, "height": 768})
            ).new_page()
            await login.goto(server.url + "/console/login")
            await shot(login, "login")

            # the agent on a call: the screen pop, then typing a ticket
            agent = await sign_in(browser, server, "agent1")
            await agent.fill("#agent-phone", "+863722000001")
            await agent.keyboard.press("Alt+1")
            sid = "CA" + "1" * 32
            await server.twilio("/twilio/voice", call_form(sid, CALLER))
            await server.twilio(
                "/twilio/voice/queue", call_form(sid, CALLER, CallStatus="in-progress")
            )
            await agent.wait_for_selector("#caller-phone")
            leg = {
                "AccountSid": ACCOUNT_SID,
                "CallSid": "CA" + "2" * 32,
                "CallStatus": "in-progress",
            }
            agent_id = await _agent_id(server, "agent1")
            await server.twilio(f"/twilio/voice/agent-leg?agent={agent_id}&call={sid}", leg)
            await agent.wait_for_selector('[data-transfer="120"]:not([disabled])')
            await agent.focus("#f-content")
            await agent.keyboard.type("建设路小区又停水了，这次楼下水管也在漏水，请尽快派人来看看")
            await agent.fill("#f-address", "文峰区东关街道建设路12号院")
            await agent.wait_for_selector("#suggestion:not([hidden])")
            await agent.fill("#kb-q", "停水")
            await agent.wait_for_selector("#kb-results li")
            await shot(agent, "desk")
            zoomed = await sign_in(
                browser,
                server,
                "agent1",
                viewport={"width": 911, "height": 512},
                device_scale_factor=1.5,
            )
            await shot(zoomed, "desk-zoom150")

            await agent.goto(server.url + "/console/triage")
            await shot(agent, "triage")
            await agent.goto(server.url + "/console/tickets")
            await shot(agent, "tickets")
            await agent.goto(server.url + f"/console/tickets/{numbers['again']}")
            await shot(agent, "ticket")

            boss = await sign_in(browser, server, "supervisor1")
            await shot(boss, "wallboard")
            for name in ("returns", "extensions", "duplicates", "escalation", "hotspots", "outbox"):
                await boss.goto(server.url + f"/console/{name}")
                await shot(boss, name)

            unit = await sign_in(browser, server, "gsgs")
            await shot(unit, "department")
            await unit.goto(server.url + f"/console/tickets/{numbers['water']}")
            await shot(unit, "department-ticket")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = parser.parse_args()
    reason = browser_missing()
    if reason is not None:
        print(f"cannot take screenshots: {reason}", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    asyncio.run(run(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
