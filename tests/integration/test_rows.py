"""``RowInsert`` (the intake's prebuilt INSERTs) stores exactly what SQLAlchemy's own INSERT
stores, returns each row's keys, and runs in the caller's transaction (SQLite and PostgreSQL).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import insert, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from hotline.services.context import Context
from hotline.storage.rows import RowInsert
from hotline.storage.tables import CONTACTS

SHANGHAI = timezone(timedelta(hours=8))


def _rows(tag: str) -> list[dict[str, Any]]:
    at = datetime(2026, 11, 27, 9, 30, 15, 123456, tzinfo=SHANGHAI)
    return [
        {
            "channel": "sms",
            "channel_ref": f"{tag}-{i}",
            "citizen_id": None,
            "ticket_id": None,
            "received_at": at + timedelta(seconds=i),
            "created_at": (at + timedelta(minutes=i)).astimezone(UTC),
            "content": f'第{i}条：路灯不亮 ]]> <x/> "引号"',
            "payload": {"Body": "路灯", "n": i, "nested": {"ok": True, "list": [1, None, "二"]}},
        }
        for i in range(3)
    ]


def _stored(session: Session, tag: str) -> list[tuple[Any, ...]]:
    """The rows as the database holds them, no column types applied (SQLite: the text)."""
    rows = session.execute(
        text(
            "SELECT channel, channel_ref, citizen_id, ticket_id, received_at, created_at, "
            "content, payload FROM contacts WHERE channel_ref LIKE :tag ORDER BY channel_ref"
        ),
        {"tag": f"{tag}-%"},
    )
    return [(row[0], row[1].split("-", 1)[1], *row[2:]) for row in rows]


async def test_rows_are_stored_as_sqlalchemy_stores_them(ctx: Context) -> None:
    rows = RowInsert(CONTACTS, CONTACTS.c.id, CONTACTS.c.channel_ref)

    def write(session: Session) -> list[tuple[Any, ...]]:
        conn = session.connection()
        conn.execute(insert(CONTACTS), _rows("core"))
        return rows.run(conn, _rows("rows"))

    returned = await ctx.db.write(write)

    def read(session: Session) -> tuple[list[Any], list[Any], dict[str, int]]:
        ids = dict(session.execute(text("SELECT channel_ref, id FROM contacts")).all())
        return _stored(session, "core"), _stored(session, "rows"), ids

    core, ours, ids = await ctx.db.write(read)
    assert len(core) == 3
    assert ours == core
    # each row's own id, matched by the key returned with it
    assert sorted(returned, key=lambda r: r[1]) == sorted(
        (ids[f"rows-{i}"], f"rows-{i}") for i in range(3)
    )
    if ctx.db.dialect == "sqlite":  # there, in the order of the rows
        assert [ref for _, ref in returned] == [f"rows-{i}" for i in range(3)]


async def test_a_left_out_column_gets_its_default_or_is_refused(ctx: Context) -> None:
    rows = RowInsert(CONTACTS)

    def write(session: Session) -> None:
        row = _rows("dflt")[0]
        del row["content"]  # default "" (a constant)
        rows.run(session.connection(), [row])

    await ctx.db.write(write)

    def read(session: Session) -> Any:
        return session.execute(
            text("SELECT content FROM contacts WHERE channel_ref = 'dflt-0'")
        ).scalar_one()

    assert await ctx.db.write(read) == ""

    def computed(session: Session) -> None:
        row = _rows("dict")[0]
        del row["payload"]  # default=dict: computed per row, so a row must give it
        rows.run(session.connection(), [row])

    if ctx.db.dialect == "sqlite":
        with pytest.raises(ValueError, match=r"contacts\.payload"):
            await ctx.db.write(computed)


async def test_a_returned_column_must_come_from_the_rows_or_the_key() -> None:
    rows = RowInsert(CONTACTS, CONTACTS.c.id, CONTACTS.c.content)
    with pytest.raises(ValueError, match=r"contacts\.content"):
        rows._prepare(sqlite.dialect(), ("channel", "channel_ref"))


async def test_rows_are_written_in_the_callers_transaction(ctx: Context) -> None:
    rows = RowInsert(CONTACTS, CONTACTS.c.id)

    def fails(session: Session) -> None:
        rows.run(session.connection(), _rows("gone"))
        raise RuntimeError("after the rows")

    with pytest.raises(RuntimeError, match="after the rows"):
        await ctx.db.write(fails)

    def read(session: Session) -> list[Any]:
        return _stored(session, "gone")

    assert await ctx.db.write(read) == []
    assert await ctx.db.write(lambda session: rows.run(session.connection(), [])) == []
