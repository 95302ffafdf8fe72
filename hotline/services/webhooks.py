"""Exactly-once handling of carriers' webhook deliveries (Twilio and WeChat retry).

A delivery is claimed by inserting its key; the first claimant processes it and stores the
reply; a repeated delivery gets the stored reply without anything being done twice. A
repeat that arrives while the first is still being processed waits briefly for its reply.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, update

from hotline.services.context import Context
from hotline.storage.upsert import dialect_insert, dialect_of
from hotline.storage.webhooks import WebhookReply


@dataclass(frozen=True)
class StoredReply:
    status: int
    content_type: str
    body: str


def delivery_key(source: str, *parts: str) -> str:
    digest = hashlib.sha256(source.encode())
    for part in parts:
        digest.update(b"\x00" + part.encode())
    return digest.hexdigest()


async def claim(ctx: Context, source: str, key: str) -> bool:
    """True if this delivery is new and ours to process."""
    now = ctx.clock.now()
    async with ctx.db.sessions() as session, session.begin():
        stmt = (
            dialect_insert(dialect_of(session), WebhookReply)
            .values(
                key=key,
                source=source,
                state="processing",
                status=200,
                content_type="text/plain",
                body="",
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=[WebhookReply.key])
            .returning(WebhookReply.key)
        )
        return (await session.execute(stmt)).first() is not None


async def stored(ctx: Context, key: str, *, wait: float = 8.0) -> StoredReply | None:
    """The reply of an earlier delivery; waits up to ``wait`` seconds while it is processing."""
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        async with ctx.db.sessions() as session:
            row = await session.get(WebhookReply, key)
        if row is None:
            return None
        if row.state == "done":
            return StoredReply(row.status, row.content_type, row.body)
        if asyncio.get_running_loop().time() >= deadline:
            return None
        await asyncio.sleep(0.05)


async def store(ctx: Context, key: str, reply: StoredReply) -> None:
    async with ctx.db.sessions() as session, session.begin():
        await session.execute(
            update(WebhookReply)
            .where(WebhookReply.key == key)
            .values(
                state="done",
                status=reply.status,
                content_type=reply.content_type,
                body=reply.body,
                updated_at=ctx.clock.now(),
            )
        )


async def release(ctx: Context, key: str) -> None:
    """Forget a claim whose processing failed, so the carrier's retry can try again."""
    async with ctx.db.sessions() as session, session.begin():
        await session.execute(
            delete(WebhookReply).where(WebhookReply.key == key, WebhookReply.state == "processing")
        )


async def purge(ctx: Context, older_than: timedelta) -> int:
    """Drop replies older than the carriers' retry horizon (a scheduler job)."""
    cutoff = ctx.clock.now() - older_than
    async with ctx.db.sessions() as session, session.begin():
        result = await session.execute(delete(WebhookReply).where(WebhookReply.created_at < cutoff))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
