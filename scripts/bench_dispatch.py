#!/usr/bin/env python3
"""Benchmark: routing decisions per second on the dev set, and the deadline sweep's cost at 10k
and 1M open tickets with the same number due (the ratio should stay near 1: a sweep costs
what is due, not the size of the history).

    python scripts/bench_dispatch.py                    # SQLite
    python scripts/bench_dispatch.py --db postgresql --big 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
import structlog
from sqlalchemy import insert

from dispatch.gazetteer import Gazetteer
from dispatch.routing import Catalogue, suggest
from dispatch.scheduler import sweep_deadlines
from hotline.bootstrap import bootstrap
from hotline.calendar import SHANGHAI
from hotline.clock import FixedClock
from hotline.config import load_settings
from hotline.services.seed import seed_demo
from hotline.storage import migrate
from hotline.storage.tables import TICKETS, metadata

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS = metadata.tables["assignments"]
NOW = __import__("datetime").datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)


def routing_rate(rounds: int = 20) -> float:
    lines = (ROOT / "tests" / "data" / "routing-dev.jsonl").read_text(encoding="utf-8")
    texts = [json.loads(line)["text"] for line in lines.splitlines() if line.strip()]
    gazetteer, catalogue = Gazetteer.packaged(), Catalogue.default()
    suggest(texts[0], gazetteer=gazetteer, catalogue=catalogue)
    started = time.perf_counter()
    for _ in range(rounds):
        for text in texts:
            suggest(text, gazetteer=gazetteer, catalogue=catalogue)
    return rounds * len(texts) / (time.perf_counter() - started)


async def fill(ctx: object, open_tickets: int, due: int, start_id: int) -> None:
    """``open_tickets`` dispatched tickets, of which ``due`` have a notice due now."""
    db = ctx.db  # type: ignore[attr-defined]
    chunk = 20_000
    for offset in range(0, open_tickets, chunk):
        n = min(chunk, open_tickets - offset)
        tickets, assignments = [], []
        for i in range(offset, offset + n):
            tid = start_id + i
            is_due = i < due
            dispatched = NOW - timedelta(days=2)
            tickets.append(
                {
                    "id": tid,
                    "number": f"BM{tid:012d}",
                    "type": "投诉",
                    "category_code": "municipal",
                    "content": "路灯不亮",
                    "urgency": "normal",
                    "status": "signed",
                    "origin_channel": "api",
                    "confidential": False,
                    "supervision_level": 0,
                    "repeat_count": 0,
                    "reopen_count": 0,
                    "returns_approved": 0,
                    "triage_reasons": [],
                    "received_at": dispatched,
                    "created_at": dispatched,
                    "updated_at": dispatched,
                    "version": 3,
                    "due_at": NOW + timedelta(days=3 if not is_due else -1),
                }
            )
            assignments.append(
                {
                    "id": f"bm-{tid}",
                    "ticket_id": tid,
                    "department_code": "CGJ",
                    "role": "lead",
                    "status": "signed",
                    "dispatched_at": dispatched,
                    "sign_due_at": dispatched + timedelta(hours=2),
                    "return_due_at": dispatched + timedelta(hours=24),
                    "due_at": NOW + timedelta(days=3 if not is_due else -1),
                    "signed_at": dispatched,
                    "extensions_granted": 0,
                    # what the scheduler set after its last look: due ones now, others later
                    "next_notice_at": NOW - timedelta(minutes=1)
                    if is_due
                    else NOW + timedelta(days=2),
                }
            )
        async with db.engine.begin() as conn:
            await conn.execute(insert(TICKETS), tickets)
            await conn.execute(insert(ASSIGNMENTS), assignments)


async def sweep_time(url: str, open_tickets: int, due: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.yaml"
        config.write_text("logging: {level: WARNING}\n", encoding="utf-8")
        settings = load_settings(str(config), environ={"HOTLINE_DATABASE_URL": url})
        ctx = bootstrap(settings, clock=FixedClock(NOW))
        try:
            await migrate.upgrade(ctx.db.engine)
            await seed_demo(ctx, users=False)
            await fill(ctx, open_tickets, due, 1)
            started = time.perf_counter()
            report = await sweep_deadlines(ctx, limit=due + 10)
            elapsed = time.perf_counter() - started
            if not report.sent or report.looked_at != due:
                raise RuntimeError(f"the sweep did not find the {due} due assignments: {report}")
            return elapsed
        finally:
            await ctx.db.dispose()


async def fresh_pg(name: str) -> str:
    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rate = routing_rate()
    print(f"routing decisions: {rate:,.0f}/s on the dev set ({1000 / rate:.2f} ms each)")
    results = {}
    for size in (args.small, args.big):
        times = []
        for r in range(args.rounds if size == args.small else 1):
            with tempfile.TemporaryDirectory() as tmp:
                if args.db == "sqlite":
                    url = f"sqlite+aiosqlite:///{tmp}/bench.db"
                else:
                    url = asyncio.run(fresh_pg(f"hotline_bench_sweep_{size}_{r}"))
                times.append(asyncio.run(sweep_time(url, size, args.due)))
        results[size] = statistics.median(times)
    print(f"deadline sweep with {args.due} due ({args.db}):")
    print("| open tickets | sweep (ms) |")
    print("|---:|---:|")
    for size, seconds in results.items():
        print(f"| {size:,} | {seconds * 1000:.0f} |")
    print(f"ratio {args.big:,} / {args.small:,}: {results[args.big] / results[args.small]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
