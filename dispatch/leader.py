"""One scheduler leader among the app instances that share a PostgreSQL database.

Every instance starts the timer, but only the instance holding a session-level advisory lock
runs the sweeps. The lock lives on one connection set aside for it (autocommit, so it holds no
transaction open); if that connection dies, PostgreSQL drops the lock and another instance
takes over at its next tick. The sweeps are also safe to run twice (row claims, unique notice
keys), so a change of leader in the middle of a tick costs nothing but a repeated read.

SQLite is one file with one writer, served by one instance: that instance always leads.
"""

from __future__ import annotations

import contextlib

import structlog
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from hotline.storage.db import Database

log = structlog.get_logger(__name__)

#: the advisory lock's key: "12345" and "sched" (any constant no other code uses)
LOCK_KEY = 12345_0001


class Leadership:
    def __init__(self, db: Database, key: int = LOCK_KEY) -> None:
        self._db = db
        self._key = key
        self._conn: AsyncConnection | None = None

    @property
    def held(self) -> bool:
        return self._db.dialect != "postgresql" or self._conn is not None

    async def acquire(self) -> bool:
        """True when this instance leads now: it kept the lock, or it has just taken it."""
        if self._db.dialect != "postgresql":
            return True
        if self._conn is not None:
            try:
                await self._conn.execute(text("SELECT 1"))
                return True
            except (DBAPIError, OperationalError):
                log.warning("scheduler leadership lost: its connection failed")
                await self._drop()
        conn = await self._db.engine.connect()
        try:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            taken = await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key})
        except BaseException:
            await conn.close()
            raise
        if not taken:
            await conn.close()
            return False
        self._conn = conn
        log.info("scheduler leadership taken")
        return True

    async def release(self) -> None:
        if self._conn is None:
            return
        with contextlib.suppress(DBAPIError, OperationalError):  # a dead one has released it
            await self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
        await self._drop()
        log.info("scheduler leadership released")

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except (DBAPIError, OperationalError):
                await conn.invalidate()
