#!/usr/bin/env python3
"""Benchmark: N tickets through the intake service vs. a raw SQLAlchemy Core insert of the
same rows, in the same run, on SQLite and PostgreSQL.

    python scripts/bench_intake.py                 # SQLite and PostgreSQL, N=3000
    python scripts/bench_intake.py --db sqlite --n 5000
    python scripts/bench_intake.py --concurrency 8 # N contacts from 8 concurrent callers

Both paths write the same rows: a citizen, a ticket, its first event and the contact, with the
ticket number drawn from the same per-day counter. ``--concurrency C`` callers feed the service,
which groups what arrives together into one transaction (group commit); the baseline inserts the
same rows with prebuilt Core statements in transactions of C rows, the most the database can do
with that grouping. The baseline skips everything the service adds: validation against
reference data, phone parsing, the idempotency check, the domain's event, the queue. Results are
a ratio (service / baseline) measured in the same run, so the machine's speed cancels.

The database first holds ``--history`` tickets (20,000 by default, written by the baseline's
path): a hotline's tables are never empty, and on an empty table the first plans PostgreSQL
caches (foreign-key checks, lookups) fit a table of a few pages and stay. On PostgreSQL the
tables are then ``ANALYZE``d, as autovacuum keeps them in a real deployment (the development
server runs with autovacuum off, so nothing else would). SQLite gets no ``ANALYZE``: nothing
runs it in a deployment either.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from hotline.bootstrap import bootstrap
from hotline.clock import SystemClock
from hotline.config import load_settings
from hotline.domain.intake import IntakeValue
from hotline.domain.numbers import format_number
from hotline.domain.vocabulary import Channel, TicketType
from hotline.services.context import Context
from hotline.services.history import reserve_numbers
from hotline.services.intake import take_in
from hotline.services.seed import seed_demo
from hotline.storage import migrate
from hotline.storage.tables import CITIZENS, CONTACTS, TICKET_EVENTS, TICKETS

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PG_BENCH = "postgresql+asyncpg://postgres@127.0.0.1:5432/hotline_bench"

TEXTS = [
    "北关区洹北街道某路段路灯已连续一周不亮，夜间行人通行不便。",
    "文峰区东关街道小区物业擅自提高停车费，业主多次反映无果。",
    "殷都区水冶街道某工地夜间施工噪音扰民，凌晨两点还在作业。",
    "咨询住房公积金提取需要哪些材料，能否线上办理。",
]


_phones = iter(range(10_000_000, 99_999_999))


def values(n: int, tag: str) -> list[IntakeValue]:
    """N contacts, each from a citizen not seen before (both paths insert a citizen row)."""
    now = datetime.now(UTC)
    return [
        IntakeValue(
            channel=Channel.SMS,
            channel_ref=f"{tag}-{i}",
            received_at=now,
            content=TEXTS[i % len(TEXTS)],
            type=TicketType.COMPLAINT,
            category="municipal",
            division="410503",
            phone=f"+86138{next(_phones):08d}",
            payload={"MessageSid": f"{tag}-{i}", "Body": TEXTS[i % len(TEXTS)]},
        )
        for i in range(n)
    ]


_CITIZEN = insert(CITIZENS).returning(CITIZENS.c.id, CITIZENS.c.phone)
_TICKET = insert(TICKETS).returning(TICKETS.c.id, TICKETS.c.number)
_EVENT = insert(TICKET_EVENTS)
_CONTACT = insert(CONTACTS)


async def raw_insert(ctx: Context, batch: list[IntakeValue]) -> None:
    """The same rows with prebuilt Core inserts, one transaction per batch: the database's own
    cost for what the service writes. What the service adds is the difference. The transaction
    goes the service's way (``Database.write``: SQLite's write connection, else ``run_sync``), so
    the two differ only in what they do, not in how they reach the database."""
    await ctx.db.write(_raw_rows, ctx.clock.now(), batch)


def _raw_rows(session: Session, now: datetime, batch: list[IntakeValue]) -> None:
    conn = session.connection()
    citizens = {
        row.phone: row.id
        for row in conn.execute(
            _CITIZEN,
            [
                {
                    "phone": v.phone,
                    "phone_raw": v.phone,
                    "name": None,
                    "real_name": False,
                    "wants_confidential": False,
                    "needs_assistance": False,
                    "created_at": now,
                    "updated_at": now,
                }
                for v in batch
            ],
        )
    }
    day, first = reserve_numbers(conn, now, len(batch))
    numbers = [format_number("BX", day, first + i) for i in range(len(batch))]
    tickets = {
        row.number: row.id
        for row in conn.execute(
            _TICKET,
            [
                {
                    "number": n,
                    "type": v.type.value if v.type else None,
                    "category_code": v.category,
                    "title": None,
                    "content": v.content,
                    "address": None,
                    "division_code": v.division,
                    "street_code": None,
                    "latitude": None,
                    "longitude": None,
                    "urgency": "normal",
                    "status": "received",
                    "origin_channel": v.channel.value,
                    "citizen_id": citizens[v.phone],
                    "confidential": False,
                    "supervision_level": 0,
                    "repeat_count": 0,
                    "reopen_count": 0,
                    "returns_approved": 0,
                    "merged_into_id": None,
                    "due_at": None,
                    "suspension": None,
                    "closed_at": None,
                    "triage_reasons": [],
                    "received_at": v.received_at,
                    "created_at": now,
                    "updated_at": now,
                    "version": 1,
                }
                for n, v in zip(numbers, batch, strict=True)
            ],
        )
    }
    conn.execute(
        _EVENT,
        [
            {
                "ticket_id": tickets[n],
                "seq": 1,
                "at": now,
                "actor_kind": "citizen",
                "actor_id": "sms",
                "actor_department": None,
                "action": "received",
                "status_before": None,
                "status_after": "received",
                "note": "手机短信",
                "data": {"number": n, "channel": "sms"},
            }
            for n in numbers
        ],
    )
    conn.execute(
        _CONTACT,
        [
            {
                "channel": v.channel.value,
                "channel_ref": "raw-" + v.channel_ref,
                "citizen_id": citizens[v.phone],
                "ticket_id": tickets[n],
                "received_at": v.received_at,
                "created_at": now,
                "content": v.content,
                "payload": v.payload,
            }
            for n, v in zip(numbers, batch, strict=True)
        ],
    )


async def raw_batches(ctx: Context, items: list[IntakeValue], concurrency: int) -> float:
    """Raw inserts in batches as large as the service's natural batch (one per caller)."""
    batches = [items[i : i + concurrency] for i in range(0, len(items), concurrency)]
    started = time.perf_counter()
    for batch in batches:
        await raw_insert(ctx, batch)
    return time.perf_counter() - started


async def fill_history(ctx: Context, n: int) -> None:
    """N closed tickets, as a hotline's tables hold (the baseline's rows, then closed: the open
    queue stays what the benchmark makes it)."""
    await raw_batches(ctx, values(n, "history"), 200)
    async with ctx.db.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE tickets SET status = 'closed', closed_at = received_at WHERE id IN "
                "(SELECT ticket_id FROM contacts WHERE channel_ref LIKE 'raw-history-%')"
            )
        )


async def service_insert(ctx: Context, value: IntakeValue) -> None:
    await take_in(ctx, value)


async def timed(
    work: Callable[[Context, IntakeValue], Awaitable[None]],
    ctx: Context,
    items: list[IntakeValue],
    concurrency: int,
) -> float:
    queue = list(reversed(items))

    async def worker() -> None:
        while queue:
            await work(ctx, queue.pop())

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


async def prepare_pg() -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute("DROP DATABASE IF EXISTS hotline_bench WITH (FORCE)")
        await conn.execute("CREATE DATABASE hotline_bench")
    finally:
        await conn.close()


async def bench(
    url: str, n: int, rounds: int, concurrency: int, history: int = 20_000
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "config.yaml"
        config.write_text("logging: {format: console}\n", encoding="utf-8")
        settings = load_settings(str(config), environ={"HOTLINE_DATABASE_URL": url})
        ctx = bootstrap(settings, clock=SystemClock())
        try:
            await migrate.upgrade(ctx.db.engine)
            await seed_demo(ctx, users=False)
            await ctx.reference.get()
            if history:
                await fill_history(ctx, history)
            if ctx.db.dialect == "postgresql":
                async with ctx.db.engine.connect() as conn:
                    await conn.execute(text("ANALYZE"))
                    await conn.commit()
            # warm both paths (connections, statement caches)
            await raw_batches(ctx, values(200, "warm-raw"), concurrency)
            await timed(service_insert, ctx, values(200, "warm-svc"), concurrency)
            raw_rates, svc_rates = [], []
            for r in range(rounds):  # interleaved, so drift hits both alike
                raw_rates.append(n / await raw_batches(ctx, values(n, f"r{r}"), concurrency))
                svc_rates.append(
                    n / await timed(service_insert, ctx, values(n, f"s{r}"), concurrency)
                )
            async with ctx.db.engine.connect() as conn:
                tickets = (await conn.execute(text("SELECT count(*) FROM tickets"))).scalar()
        finally:
            await ctx.db.dispose()
    raw = statistics.median(raw_rates)
    svc = statistics.median(svc_rates)
    return {"raw": raw, "service": svc, "ratio": svc / raw, "tickets": tickets}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=3000, help="tickets per round and path")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--history", type=int, default=20_000, help="tickets in the database before measuring"
    )
    args = parser.parse_args()
    rows = []
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{tmp}/bench.db"
            rows.append(
                (
                    "SQLite",
                    asyncio.run(bench(url, args.n, args.rounds, args.concurrency, args.history)),
                )
            )
    if args.db in ("postgresql", "both"):
        asyncio.run(prepare_pg())
        url = os.environ.get("HOTLINE_BENCH_PG_URL", PG_BENCH)
        rows.append(
            (
                "PostgreSQL",
                asyncio.run(bench(url, args.n, args.rounds, args.concurrency, args.history)),
            )
        )
    print(
        f"intake benchmark: n={args.n} per round, {args.rounds} rounds (median), "
        f"concurrency={args.concurrency}"
    )
    print("| database | raw Core insert (tickets/s) | intake service (tickets/s) | ratio |")
    print("|---|---:|---:|---:|")
    for name, r in rows:
        print(f"| {name} | {r['raw']:,.0f} | {r['service']:,.0f} | {r['ratio']:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
