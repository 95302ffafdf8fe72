#!/usr/bin/env python3
"""Benchmark the console: live updates to 200 WebSocket clients, and the queue pages at 10k and
1M tickets.

    python scripts/bench_console.py                          # SQLite, one server
    python scripts/bench_console.py --db postgresql --instances 2
    python scripts/bench_console.py --skip-queue --clients 200 --changes 100
    python scripts/bench_console.py --skip-live --sizes 10000,1000000

Live: ``--clients`` signed-in consoles hold ``/console/ws`` open (split over ``--instances``
``hotline serve`` processes; more than one needs PostgreSQL, whose NOTIFY carries the events
between instances). The benchmark dispatches tickets through the JSON API of the first
instance and measures, for every (change, client) pair, the time from sending the request to
the event's arrival at the client: first one change at a time, then ``--changes`` at once.

Queue pages: a fresh database per size with a fixed amount of open work (300 tickets waiting
at the centre, 2,000 at units) and the rest closed history, each ticket with its assignment and
first event; then the median and p95 of ``GET /console/triage`` (the triage queue), the
department desk and the wallboard, and the ratio between the largest and smallest size. Open
work, not history, should set the cost of a page.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import asyncpg
from sqlalchemy import insert, text

from hotline.bootstrap import bootstrap
from hotline.config import load_settings
from hotline.services import console
from hotline.services.context import Context
from hotline.services.secrets import derive_key
from hotline.services.seed import seed_demo
from hotline.storage import migrate
from hotline.storage.tables import TICKET_EVENTS, TICKETS, metadata

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-console-secret-key"  # noqa: S105 - a benchmark's key, not a secret
ADMIN = "bench-admin-token"
PG_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
ASSIGNMENTS = metadata.tables["assignments"]
OPEN_AT_CENTRE = 300
OPEN_AT_UNITS = 2000
UNITS = ["GSGS", "CGJ", "GDGS", "GOV-410502", "GOV-410503", "ZJJ", "RSJ", "SCJG"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def environ(database: str, config: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HOTLINE_DATABASE_URL": database,
        "HOTLINE_SECRET_KEY": SECRET,
        "HOTLINE_ADMIN_TOKEN": ADMIN,
        "HOTLINE_CONFIG": str(config),
    }


def write_config(tmp: Path) -> Path:
    config = tmp / "config.yaml"
    config.write_text(
        "logging: {level: WARNING}\n"
        "channels: {outbox: {run_worker: false}}\n"
        "routing: {auto_dispatch: false}\n",
        encoding="utf-8",
    )
    return config


async def fresh_database(kind: str, name: str, tmp: Path) -> str:
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{tmp / name}.db"
    conn = await asyncpg.connect(PG_ADMIN.replace("+asyncpg", ""))
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def context(database: str, config: Path) -> Context:
    return bootstrap(load_settings(str(config), environ=environ(database, config)))


async def prepare(database: str, config: Path) -> None:
    ctx = context(database, config)
    try:
        await migrate.upgrade(ctx.db.engine)
        await seed_demo(ctx)
    finally:
        await ctx.db.dispose()


class Servers:
    """``hotline serve`` processes on one database."""

    def __init__(self, database: str, config: Path, count: int, cwd: Path) -> None:
        self.ports = [free_port() for _ in range(count)]
        self.logs = [cwd / f"server-{i}.log" for i in range(count)]
        self.procs = []
        for port, log in zip(self.ports, self.logs, strict=True):
            with log.open("wb") as out:
                self.procs.append(
                    subprocess.Popen(  # noqa: S603 - our own CLI
                        [sys.executable, "-m", "hotline.cli", "serve", "--port", str(port)],
                        cwd=cwd,
                        env=environ(database, config),
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )

    def url(self, i: int = 0) -> str:
        return f"http://127.0.0.1:{self.ports[i]}"

    async def wait_up(self) -> None:
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as session:
            for i in range(len(self.ports)):
                while True:
                    try:
                        async with session.get(self.url(i) + "/healthz") as response:
                            await response.read()
                            break
                    except aiohttp.ClientError:
                        if time.monotonic() > deadline or self.procs[i].poll() is not None:
                            tail = self.logs[i].read_text(errors="replace")[-3000:]
                            raise RuntimeError(f"server {i} did not start:\n{tail}") from None
                        await asyncio.sleep(0.2)

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=15)


async def session_cookies(ctx: Context, username: str, count: int) -> list[str]:
    """``count`` sessions of ``username``, as the cookie values the server expects."""
    key = derive_key(ctx, "console-session")
    cookies = []
    for _ in range(count):
        signed = await console.sign_in(ctx, username, "hotline-demo", ip=f"bench-{_ % 250}")
        assert signed.token is not None, "demo user missing"  # noqa: S101
        mac = hmac.new(key, signed.token.encode(), hashlib.sha256).hexdigest()
        cookies.append(f"{signed.token}.{mac}")
    return cookies


# -- live updates ------------------------------------------------------------------------------


async def bench_live(kind: str, instances: int, clients: int, changes: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp())
    config = write_config(tmp)
    database = await fresh_database(kind, "hotline_bench_live", tmp)
    await prepare(database, config)
    ctx = context(database, config)
    cookies = await session_cookies(ctx, "agent1", clients)
    await ctx.db.dispose()
    servers = Servers(database, config, instances, tmp)
    try:
        await servers.wait_up()
        return await _live(servers, instances, cookies, changes)
    finally:
        servers.stop()


async def _live(
    servers: Servers, instances: int, cookies: list[str], changes: int
) -> dict[str, Any]:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    arrivals: dict[str, list[float]] = defaultdict(list)
    complete: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
    clients = len(cookies)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        sockets = []
        for i, cookie in enumerate(cookies):
            url = servers.url(i % instances) + "/console/ws"
            sockets.append(
                await http.ws_connect(url, headers={"Cookie": f"hotline_console={cookie}"})
            )

        async def listen(ws: aiohttp.ClientWebSocketResponse) -> None:
            async for msg in ws:
                now = time.perf_counter()
                for event in json.loads(msg.data)["events"]:
                    if event.get("kind") == "ticket" and event.get("action") == "dispatched":
                        got = arrivals[event["number"]]
                        got.append(now)
                        if len(got) == clients:
                            complete[event["number"]].set()

        readers = [asyncio.create_task(listen(ws)) for ws in sockets]
        api = servers.url(0) + "/api/v1/tickets"
        numbers = []
        for i in range(changes * 2):
            async with http.post(
                api, json={"type": "投诉", "content": f"路灯不亮 {i}"}, headers=admin
            ) as response:
                numbers.append((await response.json())["number"])
        await asyncio.sleep(1)  # let the "received" events pass

        async def change(number: str) -> tuple[float, float]:
            started = time.perf_counter()
            async with http.post(
                f"{api}/{number}/dispatch", json={"department": "CGJ"}, headers=admin
            ) as response:
                assert response.status == 200, await response.text()  # noqa: S101
            answered = time.perf_counter()
            await asyncio.wait_for(complete[number].wait(), 30)
            return started, answered

        def latencies(batch: list[str], starts: dict[str, float]) -> list[float]:
            return [t - starts[n] for n in batch for t in arrivals[n]]

        one_by_one: dict[str, float] = {}
        one_answered: dict[str, float] = {}
        rtt = []
        for number in numbers[:changes]:
            started, answered = await change(number)
            one_by_one[number] = started
            one_answered[number] = answered
            rtt.append(answered - started)
        sequential = latencies(numbers[:changes], one_by_one)
        after_answer = [max(0.0, x) for x in latencies(numbers[:changes], one_answered)]
        burst_batch = numbers[changes:]
        burst_started = time.perf_counter()
        results = await asyncio.gather(*(change(n) for n in burst_batch))
        burst_starts = {n: r[0] for n, r in zip(burst_batch, results, strict=True)}
        burst = latencies(burst_batch, burst_starts)
        burst_after = [
            max(0.0, x)
            for x in latencies(
                burst_batch, {n: r[1] for n, r in zip(burst_batch, results, strict=True)}
            )
        ]
        burst_total = time.perf_counter() - burst_started
        for ws in sockets:
            await ws.close()
        for task in readers:
            task.cancel()
    return {
        "clients": clients,
        "instances": instances,
        "changes": changes,
        "sequential": sequential,
        "sequential_after": after_answer,
        "burst": burst,
        "burst_after": burst_after,
        "burst_total": burst_total,
        "rtt": rtt,
    }


# -- queue pages -------------------------------------------------------------------------------


async def fill(ctx: Context, total: int) -> None:
    """``total`` tickets: fixed open work, the rest closed history over the last two years."""
    rng = random.Random(total)
    now = datetime.now(UTC)
    at_centre = set(rng.sample(range(total), OPEN_AT_CENTRE))
    rest = [i for i in range(total) if i not in at_centre]
    at_units = set(rng.sample(rest, min(OPEN_AT_UNITS, len(rest))))
    batch = 5000
    async with ctx.db.engine.begin() as conn:
        first = int(
            (await conn.execute(text("SELECT coalesce(max(id), 0) FROM tickets"))).scalar_one()
        )
    for start in range(0, total, batch):
        tickets, events, assignments = [], [], []
        for i in range(start, min(total, start + batch)):
            tid = first + i + 1
            created = now - timedelta(minutes=rng.randrange(2 * 365 * 24 * 60))
            if i in at_centre:
                created = now - timedelta(minutes=rng.randrange(600))
                status = "awaiting_dispatch"
            elif i in at_units:
                created = now - timedelta(hours=rng.randrange(24 * 10))
                status = "in_progress"
            else:
                status = "closed"
            due = created + timedelta(days=7)
            tickets.append(
                {
                    "id": tid,
                    "number": f"BN{i:010d}",
                    "type": "投诉",
                    "content": f"北关区洹北街道路灯不亮，第{i}号",
                    "status": status,
                    "urgency": "urgent" if i % 97 == 0 else "normal",
                    "origin_channel": "sms",
                    "received_at": created,
                    "created_at": created,
                    "updated_at": created,
                    "closed_at": created + timedelta(days=3) if status == "closed" else None,
                    "due_at": due if status == "in_progress" else None,
                    "version": 1,
                    "triage_reasons": [],
                }
            )
            events.append(
                {
                    "ticket_id": tid,
                    "seq": 1,
                    "at": created,
                    "actor_kind": "system",
                    "actor_id": "bench",
                    "action": "received",
                    "status_after": "received",
                    "data": {},
                }
            )
            if status != "awaiting_dispatch":
                assignments.append(
                    {
                        "id": f"bench-{tid}",
                        "ticket_id": tid,
                        "department_code": UNITS[i % len(UNITS)],
                        "role": "lead",
                        "status": "in_progress" if status == "in_progress" else "closed",
                        "dispatched_at": created,
                        "sign_due_at": created + timedelta(hours=2),
                        "return_due_at": created + timedelta(hours=24),
                        "due_at": due,
                        "extensions_granted": 0,
                    }
                )
        async with ctx.db.engine.begin() as conn:
            await conn.execute(insert(TICKETS), tickets)
            await conn.execute(insert(TICKET_EVENTS), events)
            if assignments:
                await conn.execute(insert(ASSIGNMENTS), assignments)
        if (start // batch) % 40 == 0:
            print(f"  {start + len(tickets):>9,} / {total:,} tickets", flush=True)
    async with ctx.db.engine.begin() as conn:
        await conn.execute(text("ANALYZE"))


PAGES = {
    "triage queue (GET /console/triage)": ("supervisor1", "/console/triage"),
    "department desk (GET /console/department)": ("gsgs", "/console/department"),
    "wallboard (GET /console/wallboard)": ("supervisor1", "/console/wallboard"),
}


async def bench_queue(
    kind: str, sizes: list[int], requests: int
) -> dict[int, dict[str, list[float]]]:
    """One database and one server per size; the requests alternate between the sizes, so
    that whatever else the machine does weighs on every size alike."""
    prepared = []
    for size in sizes:
        print(f"\nqueue pages at {size:,} tickets", flush=True)
        tmp = Path(tempfile.mkdtemp())
        config = write_config(tmp)
        database = await fresh_database(kind, f"hotline_bench_queue_{size}", tmp)
        await prepare(database, config)
        ctx = context(database, config)
        started = time.perf_counter()
        await fill(ctx, size)
        print(f"  filled {size:,} tickets in {time.perf_counter() - started:.0f} s", flush=True)
        cookies = {u: (await session_cookies(ctx, u, 1))[0] for u in ("supervisor1", "gsgs")}
        await ctx.db.dispose()
        prepared.append((size, Servers(database, config, 1, tmp), cookies))
    results: dict[int, dict[str, list[float]]] = {size: defaultdict(list) for size in sizes}
    try:
        for _, servers, _ in prepared:
            await servers.wait_up()
        async with aiohttp.ClientSession() as http:
            for round_ in range(requests + 5):
                order = prepared if round_ % 2 == 0 else list(reversed(prepared))
                for size, servers, cookies in order:
                    for name, (user, path) in PAGES.items():
                        headers = {"Cookie": f"hotline_console={cookies[user]}"}
                        t0 = time.perf_counter()
                        async with http.get(servers.url() + path, headers=headers) as response:
                            body = await response.read()
                            assert response.status == 200, body[:300]  # noqa: S101
                        if round_ >= 5:  # after warm-up
                            results[size][name].append(time.perf_counter() - t0)
    finally:
        for _, servers, _ in prepared:
            servers.stop()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--skip-live", action="store_true")
    parser.add_argument("--skip-queue", action="store_true")
    args = parser.parse_args()
    if args.instances > 1 and args.db == "sqlite":
        parser.error("several instances share live events through PostgreSQL: use --db postgresql")
    print(
        f"# console benchmark ({args.db}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]})"
    )
    if not args.skip_live:
        live = asyncio.run(bench_live(args.db, args.instances, args.clients, args.changes))
        print(
            f"\nlive updates: {live['clients']} WebSocket clients on {live['instances']} "
            f"instance(s), {live['changes']} ticket changes one at a time, then "
            f"{live['changes']} at once; time from sending the change to its arrival at each client"
        )
        print("| changes | arrivals | p50 (ms) | p99 (ms) | max (ms) | before the API's answer |")
        print("|---|---:|---:|---:|---:|---:|")
        for name in ("sequential", "burst"):
            values, after = live[name], live[f"{name}_after"]
            early = sum(1 for x in after if x == 0.0) / len(after)
            print(
                f"| {'one at a time' if name == 'sequential' else 'all at once'} | {len(values):,} "
                f"| {pct(values, 0.5):.1f} | {pct(values, 0.99):.1f} | {max(values) * 1000:.1f} "
                f"| {early:.0%} |"
            )
        print(
            f"API round trip of one change: p50 {pct(live['rtt'], 0.5):.1f} ms; burst of "
            f"{live['changes']} delivered to all clients in {live['burst_total'] * 1000:.0f} ms"
        )
    if not args.skip_queue:
        sizes = [int(s) for s in args.sizes.split(",") if s]
        by_size = asyncio.run(bench_queue(args.db, sizes, args.requests))
        print(
            f"\nqueue pages ({args.requests} requests each after warm-up, alternating between the "
            f"sizes; open work fixed at "
            f"{OPEN_AT_CENTRE} at the centre and {OPEN_AT_UNITS:,} at units)"
        )
        head = " | ".join(f"{s:,}: p50 / p95 (ms)" for s in sizes)
        print(f"| page | {head} | ratio p50 {sizes[-1]:,}/{sizes[0]:,} |")
        print("|---|" + "---:|" * (len(sizes) + 1))
        for name in PAGES:
            cells = " | ".join(
                f"{pct(by_size[s][name], 0.5):.1f} / {pct(by_size[s][name], 0.95):.1f}"
                for s in sizes
            )
            ratio = statistics.median(by_size[sizes[-1]][name]) / statistics.median(
                by_size[sizes[0]][name]
            )
            print(f"| {name} | {cells} | {ratio:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
