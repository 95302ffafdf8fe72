#!/usr/bin/env python3
"""Benchmark: signed SMS webhooks (``POST /twilio/sms``) per second, each writing a ticket and
answering TwiML with its number, and the p99 latency at 50% of that rate; the same for a bare
aiohttp handler (parse the form, answer fixed TwiML) in the same run, and the ratio.

    python scripts/bench_channels.py                     # SQLite, 3000 requests, 32 clients
    python scripts/bench_channels.py --db postgresql     # PostgreSQL (local test server)
    python scripts/bench_channels.py --n 5000 --clients 64
    python scripts/bench_channels.py --profile server.prof   # cProfile of the hotline server

Each server runs in its own process (one event loop, as ``hotline serve`` does); the load comes
from this process over real HTTP. Every request is a new message (its own MessageSid) from a new
phone number, signed with twilio's ``RequestValidator`` before the clock starts. Throughput is
measured closed-loop with ``--clients`` in flight; latency open-loop at half that rate. The two
servers are measured alternately ``--rounds`` times (3; each a fresh server process, on the same
database), and the medians are reported with the median of the rounds' ratios: on a shared
machine a single pair can move by a third. For
each server it also reports the CPU time (all threads) it used per request in the throughput
phase and how busy it was (that CPU time over the elapsed time, Linux only): a server well
below 100% was bound by the load from this process, not by its own work. From the hotline
server's ``/metrics`` it reports the contacts a batch held and the share written by one
statement (PostgreSQL's path; the rest went the transaction's way).

The database holds the demo data and ``--history`` closed tickets (20,000) first, and on PostgreSQL
is ``ANALYZE``d, as autovacuum keeps it in a deployment (see ``scripts/bench_intake.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

TOKEN = "bench-twilio-token"  # noqa: S105 - a throwaway token for the benchmark's own server
PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/hotline_bench"
TEXT = "北关区洹北街道某路段路灯已连续一周不亮，夜间行人通行不便，请尽快维修。"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the two servers (run in a child process) --------------------------------------------------


async def bare_app() -> web.Application:
    async def sms(request: web.Request) -> web.Response:
        form = await request.post()
        body = (
            '<?xml version="1.0" encoding="UTF-8"?><Response><Message>已受理 '
            f"{len(str(form.get('Body', '')))}</Message></Response>"
        )
        return web.Response(text=body, content_type="text/xml")

    app = web.Application()
    app.router.add_post("/twilio/sms", sms)
    return app


def hotline_settings(db_url: str, port: int, config_dir: Path, routing: bool = False) -> Any:
    from hotline.config import load_settings  # noqa: PLC0415 - only in the server process

    config = config_dir / "bench-config.yaml"
    config.write_text("logging: {level: WARNING, format: console}\n", encoding="utf-8")
    return load_settings(
        str(config),
        environ={
            "HOTLINE_DATABASE_URL": db_url,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "HOTLINE_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "HOTLINE_SECRET_KEY": "bench",
        },
        overrides={
            "channels": {"outbox": {"run_worker": False}},
            # the background routing sweep (dispatch.auto) shares the process and SQLite's one
            # writer; off by default here to measure the webhook path alone (--with-routing)
            "routing": {"sweep_seconds": 2.0 if routing else 300},
        },
    )


async def prepare(db_url: str, config_dir: Path, history: int) -> None:
    from sqlalchemy import text  # noqa: PLC0415

    from hotline.bootstrap import bootstrap  # noqa: PLC0415
    from hotline.services.seed import seed_demo  # noqa: PLC0415
    from hotline.storage import migrate  # noqa: PLC0415
    from hotline.storage.db import create_database  # noqa: PLC0415

    db = create_database(db_url)
    try:
        if db.dialect == "postgresql":
            async with db.engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
        await migrate.upgrade(db.engine)
        ctx = bootstrap(hotline_settings(db_url, 1, config_dir), db=db)
        await seed_demo(ctx)
        if history:
            from bench_intake import fill_history  # noqa: PLC0415 - the same closed rows

            await ctx.reference.get()
            await fill_history(ctx, history)
        if db.dialect == "postgresql":
            async with db.engine.connect() as conn:
                await conn.execute(text("ANALYZE"))
                await conn.commit()
    finally:
        await db.dispose()


def serve(
    kind: str, port: int, db_url: str, config_dir: str, routing: bool, profile: str | None = None
) -> None:
    import logging  # noqa: PLC0415

    logging.disable(logging.INFO)
    if kind == "bare":
        web.run_app(bare_app(), host="127.0.0.1", port=port, print=None, access_log=None)
        return
    from hotline.config import LoggingConfig  # noqa: PLC0415
    from hotline.logs import configure_logging  # noqa: PLC0415
    from hotline.web.app import create_app  # noqa: PLC0415

    # as `hotline serve` configures it, with the level at WARNING (no access log lines)
    configure_logging(LoggingConfig(level="WARNING", format="json"))
    settings = hotline_settings(db_url, port, Path(config_dir), routing)
    profiler = None
    if profile:
        import cProfile  # noqa: PLC0415

        profiler = cProfile.Profile()
        profiler.enable()
    web.run_app(
        create_app(settings, run_migrations=False),
        host="127.0.0.1",
        port=port,
        print=None,
        access_log=None,
    )
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)


# -- the load ----------------------------------------------------------------------------------


_phones = iter(range(10_000_000, 99_999_999))


def forms(n: int, port: int, tag: str) -> list[tuple[dict[str, str], str]]:
    """N new messages, each from a number not seen before (a follow-up would join a ticket)."""
    validator = RequestValidator(TOKEN)
    url = f"http://127.0.0.1:{port}/twilio/sms"
    out = []
    for i in range(n):
        form = {
            "MessageSid": f"SM{tag}{i:026d}",
            "AccountSid": "AC" + "0" * 32,
            "From": f"+86139{next(_phones):08d}",
            "To": "+863722123456",
            "Body": TEXT,
            "NumSegments": "1",
        }
        out.append((form, str(validator.compute_signature(url, form))))
    return out


async def wait_up(port: int) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(400):
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                    await r.read()
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
    raise SystemExit(f"server on port {port} did not start")


async def post(http: aiohttp.ClientSession, port: int, form: dict[str, str], sig: str) -> None:
    async with http.post(
        f"http://127.0.0.1:{port}/twilio/sms", data=form, headers={"X-Twilio-Signature": sig}
    ) as r:
        text = await r.text()
        if r.status != 200 or "<Message>" not in text:
            raise SystemExit(f"unexpected answer {r.status}: {text[:200]}")


async def throughput(port: int, load: list[tuple[dict[str, str], str]], clients: int) -> float:
    queue = list(reversed(load))
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def client() -> None:
            while queue:
                form, sig = queue.pop()
                await post(http, port, form, sig)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        return len(load) / (time.perf_counter() - started)


async def latency(port: int, load: list[tuple[dict[str, str], str]], rate: float) -> list[float]:
    """Open loop: one request every 1/rate seconds, whatever the answers do."""
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def one(form: dict[str, str], sig: str) -> None:
            started = time.perf_counter()
            await post(http, port, form, sig)
            latencies.append(time.perf_counter() - started)

        tasks = []
        start = time.perf_counter()
        for i, (form, sig) in enumerate(load):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(form, sig)))
        await asyncio.gather(*tasks)
    return latencies


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] * 1000


async def measure(
    kind: str,
    db_url: str,
    config_dir: str,
    n: int,
    clients: int,
    routing: bool,
    profile: str | None = None,
    tag: str = "",
) -> dict[str, float]:
    port = free_port()
    env = dict(os.environ)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve",
        kind,
        "--port",
        str(port),
        "--url",
        db_url,
        "--config-dir",
        config_dir,
        *(["--with-routing"] if routing else []),
        *(["--profile", profile] if profile else []),
        env=env,
    )
    try:
        if kind == "bare":
            await asyncio.sleep(0.5)
            for _ in range(200):
                try:
                    await post_probe(port)
                    break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)
        else:
            await wait_up(port)
        warm = forms(min(200, n // 10), port, f"{kind[:1]}{tag}w")
        await throughput(port, warm, clients)
        load = forms(n, port, f"{kind[:1]}{tag}t")
        cpu_before, started = cpu_seconds(proc.pid), time.perf_counter()
        rps = await throughput(port, load, clients)
        cpu_used, elapsed = cpu_seconds(proc.pid) - cpu_before, time.perf_counter() - started
        lat = await latency(port, forms(max(500, n // 2), port, f"{kind[:1]}{tag}l"), rps / 2)
        return {
            "rps": rps,
            "p99_ms": p99(lat),
            "p50_ms": statistics.median(lat) * 1000,
            "cpu_ms": cpu_used / n * 1000,
            "busy": cpu_used / elapsed,
            **(await intake_batches(port) if kind == "hotline" else {}),
        }
    finally:
        proc.terminate()
        await proc.wait()


async def intake_batches(port: int) -> dict[str, float]:
    """The hotline server's intake batches over the round (warm-up, throughput and latency
    phases), from its ``/metrics``: how many, their contacts, and how many of those went as
    one statement (PostgreSQL)."""
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as r:
        text = await r.text()
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in (
                "hotline_intake_batches_total",
                "hotline_intake_batch_contacts_total",
            ):
                found[f"{sample.name}:{sample.labels['way']}"] = sample.value
    batches = sum(v for k, v in found.items() if k.startswith("hotline_intake_batches_total"))
    contacts = sum(v for k, v in found.items() if k.startswith("hotline_intake_batch_contacts"))
    return {
        "batches": batches,
        "contacts": contacts,
        "statement_contacts": found.get("hotline_intake_batch_contacts_total:statement", 0.0),
    }


async def sms_statuses(db_url: str) -> dict[str, int]:
    """Tickets the benchmark's texts opened, by status (with routing on, the sweep's work)."""
    from sqlalchemy import text  # noqa: PLC0415

    from hotline.storage.db import create_database  # noqa: PLC0415

    db = create_database(db_url)
    try:
        async with db.engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT status, count(*) FROM tickets WHERE origin_channel = 'sms' "
                    "AND closed_at IS NULL GROUP BY status"
                )
            )
            return {status: int(count) for status, count in rows}
    finally:
        await db.dispose()


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) the process has used (Linux ``/proc``; NaN
    elsewhere): per request it is the server's cost, whatever else the machine is doing, and
    its share of the elapsed time tells whether the server or the load was the bound."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def post_probe(port: int) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"http://127.0.0.1:{port}/twilio/sms", data={"Body": "x"}) as r,
    ):
        await r.read()


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite+aiosqlite:///{tmp}/bench.db" if args.db == "sqlite" else PG_URL
        if args.db == "postgresql":
            import asyncpg  # noqa: PLC0415

            admin = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
            exists = await admin.fetchval(
                "SELECT 1 FROM pg_database WHERE datname = 'hotline_bench'"
            )
            if not exists:
                await admin.execute("CREATE DATABASE hotline_bench")
            await admin.close()
        await prepare(db_url, Path(tmp), args.history)
        rounds: list[tuple[dict[str, float], dict[str, float]]] = []
        for r in range(args.rounds):  # alternating, so the machine's drift hits both alike
            bare = await measure("bare", db_url, tmp, args.n, args.clients, False, tag=str(r))
            hotline = await measure(
                "hotline",
                db_url,
                tmp,
                args.n,
                args.clients,
                args.with_routing,
                args.profile,
                tag=str(r),
            )
            rounds.append((bare, hotline))
        statuses = await sms_statuses(db_url)
    routing = "on" if args.with_routing else "off"
    print(
        f"database: {args.db}; {args.n} requests, {args.clients} clients; "
        f"auto-routing {routing}; {args.rounds} rounds, medians"
    )
    print(
        f"{'':10} {'req/s':>9} {'p50 ms @50%':>12} {'p99 ms @50%':>12}"
        f" {'CPU ms/req':>11} {'server busy':>12}"
    )
    for i, name in enumerate(("bare", "hotline")):
        med = {key: statistics.median(pair[i][key] for pair in rounds) for key in rounds[0][i]}
        print(
            f"{name:10} {med['rps']:9.0f} {med['p50_ms']:12.1f} {med['p99_ms']:12.1f}"
            f" {med['cpu_ms']:11.3f} {med['busy']:12.0%}"
        )
    ratios = [hotline["rps"] / bare["rps"] for bare, hotline in rounds]
    each = ", ".join(f"{ratio:.0%}" for ratio in ratios)
    print(f"ratio hotline/bare: {statistics.median(ratios):.0%} (rounds: {each}; aim: >= 30%)")
    batches = sum(hotline["batches"] for _, hotline in rounds)
    contacts = sum(hotline["contacts"] for _, hotline in rounds)
    statement = sum(hotline["statement_contacts"] for _, hotline in rounds)
    print(
        f"intake: {contacts / max(batches, 1):.1f} contacts a batch (all phases); "
        f"{statement / max(contacts, 1):.0%} of contacts written by one statement"
    )
    left = statuses.pop("received", 0)
    moved = ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))
    print(f"SMS tickets still received (unrouted): {left}; moved on: {moved or 'none'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument(
        "--rounds", type=int, default=3, help="bare and hotline measured alternately this often"
    )
    parser.add_argument("--with-routing", action="store_true", help="keep the routing sweep on")
    parser.add_argument(
        "--history", type=int, default=20_000, help="tickets in the database before measuring"
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="run the hotline server under cProfile and write its stats to FILE (slows it down)",
    )
    parser.add_argument("--serve", choices=["bare", "hotline"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--config-dir", help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    if parsed.serve:
        serve(
            parsed.serve,
            parsed.port,
            parsed.url,
            parsed.config_dir,
            parsed.with_routing,
            parsed.profile,
        )
    else:
        asyncio.run(main(parsed))
