"""INSERT ... ON CONFLICT for the two dialects we run on (both support it, with RETURNING)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session


def dialect_insert(dialect_name: str, table: Any) -> Any:
    """An ``Insert`` with ``on_conflict_do_*`` for SQLite or PostgreSQL."""
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    if dialect_name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"unsupported database dialect: {dialect_name}")


def dialect_of(session: AsyncSession | Session) -> str:
    return session.get_bind().dialect.name
