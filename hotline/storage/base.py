"""Declarative base, constraint naming convention and column types shared by all tables."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, MetaData
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class AwareDateTime(TypeDecorator[datetime]):
    """Timezone-aware timestamps on every database.

    Stored in UTC (SQLite has no time zone type, so the value is normalised to UTC and stored
    naive there; PostgreSQL gets ``timestamptz``). Always read back aware, in UTC. A naive value
    is refused rather than guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to an AwareDateTime column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite, one step from the aware value to the stored text: what
        ``process_bind_param`` followed by SQLite's ``DATETIME`` processor gives (the default
        storage format, ``YYYY-MM-DD HH:MM:SS.ffffff``), without two calls and a ``%``-format
        per value: every intake writes a dozen timestamps."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        # The last value and its text: a batch's rows carry the same instant again and again
        # (created_at, updated_at, an event's time). One tuple, replaced whole, so two threads
        # never read a value with another's text.
        last: list[tuple[datetime | None, str | None]] = [(None, None)]

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            seen, text = last[0]
            if seen is value:
                return text
            if value.tzinfo is None:
                raise ValueError("naive datetime given to an AwareDateTime column")
            text = value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
            last[0] = (value, text)
            return text

        return process

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType: Any = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: AwareDateTime()}
