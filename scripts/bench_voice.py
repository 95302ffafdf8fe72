#!/usr/bin/env python3
"""Benchmark: latency of the incoming-call webhook (POST /twilio/voice) at 200 concurrent calls,
against a bare aiohttp handler measured in the same run.

    python scripts/bench_voice.py                  # SQLite, 200 concurrent, 2000 calls
    python scripts/bench_voice.py --db postgresql --calls 4000

Both servers run as separate processes (the real one is `hotline serve`); the load comes from
this process. Every request is a new call, signed with Twilio's RequestValidator, so the real
server does all it does in production: signature check, delivery claim, call record and
contact, the TwiML greeting. Twilio gives up after 15 s; the ratio p99(hotline)/p99(bare)
shows what the hotline adds to the cost of an HTTP round trip on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import asyncpg
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-auth-token"  # noqa: S105 - a benchmark signing key, not a secret
PUBLIC = "https://hotline.example.cn"

BARE_SERVER = """
import sys
from aiohttp import web
TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Say>hello</Say></Response>'
async def handle(request):
    await request.post()
    return web.Response(text=TWIML, content_type="text/xml")
app = web.Application()
app.router.add_post("/twilio/voice", handle)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_up(url: str) -> None:
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url) as response:
                    await response.read()
                    return
            except aiohttp.ClientError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)


async def load(port: int, calls: int, concurrency: int, tag: str) -> list[float]:
    validator = RequestValidator(TOKEN)
    latencies: list[float] = []
    counter = iter(range(calls))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def caller() -> None:
            for i in counter:
                form = {
                    "CallSid": f"CA{tag}{i:030d}"[:34],
                    "From": f"+86138{i % 100_000_000:08d}",
                    "To": "+863722012345",
                    "CallStatus": "ringing",
                    "AccountSid": "AC" + "b" * 32,
                }
                signature = validator.compute_signature(f"{PUBLIC}/twilio/voice", form)
                started = time.perf_counter()
                async with session.post(
                    f"http://127.0.0.1:{port}/twilio/voice",
                    data=form,
                    headers={"X-Twilio-Signature": signature},
                ) as response:
                    body = await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"{response.status}: {body[:200]!r}")
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(caller() for _ in range(concurrency)))
    return latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def prepare_pg(url: str) -> None:
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        await conn.execute("DROP DATABASE IF EXISTS hotline_bench_voice WITH (FORCE)")
        await conn.execute("CREATE DATABASE hotline_bench_voice")
    finally:
        await conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp()
    if args.db == "sqlite":
        database = f"sqlite+aiosqlite:///{tmp}/voice.db"
    else:
        asyncio.run(prepare_pg("postgresql+asyncpg://postgres@127.0.0.1:5432/test"))
        database = "postgresql+asyncpg://postgres@127.0.0.1:5432/hotline_bench_voice"
    (Path(tmp) / "config.yaml").write_text("logging: {level: WARNING}\n", encoding="utf-8")
    env = {
        **os.environ,
        "HOTLINE_DATABASE_URL": database,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "HOTLINE_PUBLIC_URL": PUBLIC,
        "HOTLINE_CONFIG": str(Path(tmp) / "config.yaml"),
    }
    hotline_port, bare_port = free_port(), free_port()
    servers = [
        subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "hotline.cli", "serve", "--port", str(hotline_port)],
            cwd=tmp,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(  # noqa: S603
            [sys.executable, "-c", BARE_SERVER, str(bare_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    try:
        asyncio.run(wait_up(f"http://127.0.0.1:{hotline_port}/healthz"))
        asyncio.run(asyncio.sleep(0.5))
        asyncio.run(load(bare_port, 200, 20, "w"))  # warm both
        asyncio.run(load(hotline_port, 200, 20, "w"))
        bare = asyncio.run(load(bare_port, args.calls, args.concurrency, "b"))
        real = asyncio.run(load(hotline_port, args.calls, args.concurrency, "h"))
    finally:
        for proc in servers:
            proc.terminate()
            proc.wait(timeout=10)
    print(f"incoming-call webhook, {args.calls} calls at {args.concurrency} concurrent ({args.db})")
    print("| server | p50 (ms) | p99 (ms) | mean (ms) |")
    print("|---|---:|---:|---:|")
    for name, values in (("bare aiohttp handler", bare), ("hotline /twilio/voice", real)):
        print(
            f"| {name} | {pct(values, 0.5):.1f} | {pct(values, 0.99):.1f} | "
            f"{statistics.mean(values) * 1000:.1f} |"
        )
    print(
        f"ratio p50: {pct(real, 0.5) / pct(bare, 0.5):.1f}x, "
        f"p99: {pct(real, 0.99) / pct(bare, 0.99):.1f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
