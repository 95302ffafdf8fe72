"""``RowInsert`` and ``RowQuery`` (the intake's prebuilt statements) store and return exactly
what SQLAlchemy's own execution stores and returns, in the caller's transaction (SQLite and
PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import bindparam, column, insert, select, table, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, InvalidRequestError
from sqlalchemy.orm import Session

from hotline.services.context import Context
from hotline.storage.rows import Chain, Link, LinkedInsert, RowInsert, RowQuery
from hotline.storage.tables import CITIZENS, CONTACTS, TICKET_NUMBER_SEQUENCES, TICKETS
from hotline.storage.upsert import dialect_insert

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


def _ticket(number: str, **values: Any) -> dict[str, Any]:
    at = datetime(2026, 11, 27, 9, 30, 15, 123456, tzinfo=SHANGHAI)
    row: dict[str, Any] = {
        "number": number,
        "type": "投诉",
        "content": "路灯不亮",
        "urgency": "normal",
        "status": "received",
        "origin_channel": "wechat",
        "confidential": True,
        "latitude": 36.097812345678901,
        "longitude": 114.39251,
        "triage_reasons": [],
        "suspension": None,
        "due_at": None,
        "received_at": at,
        "created_at": at,
        "updated_at": at.astimezone(UTC),
        "version": 1,
    }
    return {**row, **values}


async def test_every_kind_of_value_is_stored_as_sqlalchemy_stores_it(ctx: Context) -> None:
    """Floats, booleans, JSON (``None`` as JSON ``null``, nested values), missing timestamps
    and the same instant in several columns: the same stored values either way."""
    rows = RowInsert(TICKETS, TICKETS.c.id, TICKETS.c.number)
    odd = {"triage_reasons": ["phone_unparsed", "类别"], "suspension": {"until": None, "n": [1.5]}}

    def write(session: Session) -> None:
        conn = session.connection()
        conn.execute(insert(TICKETS), [_ticket("CORE-1"), _ticket("CORE-2", **odd)])
        rows.run(conn, [_ticket("ROWS-1"), _ticket("ROWS-2", **odd)])

    await ctx.db.write(write)

    def read(session: Session) -> list[Any]:
        stored = session.execute(
            text(
                "SELECT number, latitude, longitude, confidential, triage_reasons, suspension,"
                " suspension IS NULL, due_at, received_at, created_at, updated_at FROM tickets"
                " ORDER BY number"
            )
        )
        return [(row[0].split("-")[1], *row[1:]) for row in stored]

    core, ours = (await ctx.db.write(read))[:2], (await ctx.db.write(read))[2:]
    assert ours == core
    assert core[0][1:3] == (36.097812345678901, 114.39251)


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


async def test_a_failing_statement_raises_as_sqlalchemy_raises(ctx: Context) -> None:
    """A unique key taken: ``sqlalchemy.exc.IntegrityError``, as the intake expects when another
    instance took the same contact in, and the transaction is rolled back."""
    rows = RowInsert(CONTACTS, CONTACTS.c.id)
    await ctx.db.write(lambda session: rows.run(session.connection(), _rows("dup")[:1]))

    def again(session: Session) -> None:
        rows.run(session.connection(), _rows("dup-more")[:1])  # written, then rolled back
        rows.run(session.connection(), _rows("dup"))

    with pytest.raises(IntegrityError):
        await ctx.db.write(again)
    assert await ctx.db.write(lambda session: _stored(session, "dup-more")) == []
    assert len(await ctx.db.write(lambda session: _stored(session, "dup"))) == 1
    missing = RowQuery(select(table("no_such_table", column("x"))))
    with pytest.raises(DBAPIError):  # not the driver's own error class
        await ctx.db.write(lambda session: missing.run(session.connection()))


_RECENT = (
    select(CONTACTS.c.channel_ref, CONTACTS.c.received_at, CONTACTS.c.payload)
    .where(
        CONTACTS.c.channel_ref.in_(bindparam("refs", expanding=True)),
        CONTACTS.c.received_at >= bindparam("since"),
    )
    .order_by(CONTACTS.c.channel_ref)
)


async def test_a_query_returns_what_sqlalchemy_returns(ctx: Context) -> None:
    query = RowQuery(_RECENT)
    rows = _rows("query")
    since = rows[1]["received_at"]  # Shanghai time: bound as UTC like every timestamp

    def write(session: Session) -> None:
        session.connection().execute(insert(CONTACTS), rows)

    await ctx.db.write(write)

    def read(session: Session) -> tuple[list[Any], list[Any], list[Any]]:
        conn = session.connection()
        params = {"refs": ["query-0", "query-1", "query-2", "absent"], "since": since}
        ours = query.run(conn, params)
        theirs = list(conn.execute(_RECENT, params))
        return ours, theirs, query.run(conn, {"refs": ["absent"], "since": since})

    ours, theirs, none = await ctx.db.write(read)
    assert [tuple(row) for row in ours] == [tuple(row) for row in theirs]
    assert [row.channel_ref for row in ours] == ["query-1", "query-2"]
    assert ours[0].received_at == since and ours[0].received_at.tzinfo is not None
    assert ours[0].payload["nested"] == {"ok": True, "list": [1, None, "二"]}
    assert none == []


# without an IN list: the parameters in their places from a plan made once (constants the
# statement carries, a bind parameter's own value, a timestamp through its column's processor)
_SINCE = (
    select(CONTACTS.c.channel_ref, CONTACTS.c.received_at)
    .where(
        CONTACTS.c.channel == "sms",
        CONTACTS.c.channel_ref.like(bindparam("pattern", "plain-%")),
        CONTACTS.c.received_at >= bindparam("since"),
    )
    .order_by(CONTACTS.c.channel_ref)
)


async def test_a_query_without_lists_takes_its_parameters_as_sqlalchemy_does(ctx: Context) -> None:
    query = RowQuery(_SINCE)
    rows = _rows("plain")
    since = rows[1]["received_at"]

    def write(session: Session) -> None:
        session.connection().execute(insert(CONTACTS), rows)

    await ctx.db.write(write)

    def read(session: Session) -> list[tuple[list[Any], list[Any]]]:
        conn = session.connection()
        runs = [{"since": since}, {"since": since, "pattern": "plain-2"}]
        return [(query.run(conn, params), list(conn.execute(_SINCE, params))) for params in runs]

    (default, theirs), (given, theirs_given) = await ctx.db.write(read)
    assert [tuple(row) for row in default] == [tuple(row) for row in theirs]
    assert [row.channel_ref for row in default] == ["plain-1", "plain-2"]
    assert default[0].received_at == since
    assert [tuple(row) for row in given] == [tuple(row) for row in theirs_given]
    assert [row.channel_ref for row in given] == ["plain-2"]

    def without_since(session: Session) -> list[Any]:
        return query.run(session.connection(), {})

    with pytest.raises(InvalidRequestError, match="since"):
        await ctx.db.write(without_since)


async def test_an_upsert_returns_the_id_of_new_and_of_updated_rows(ctx: Context) -> None:
    stmt = dialect_insert(ctx.db.dialect, CITIZENS)
    upsert = RowInsert(
        CITIZENS,
        CITIZENS.c.id,
        CITIZENS.c.phone,
        upsert=(
            stmt.on_conflict_do_update(
                index_elements=[CITIZENS.c.phone], set_={"name": stmt.excluded.name}
            ),
            CITIZENS.c.phone,
        ),
    )
    at = datetime(2026, 11, 27, 9, 0, tzinfo=SHANGHAI)

    def citizen(phone: str, name: str) -> dict[str, Any]:
        return {
            "phone": phone,
            "phone_raw": phone,
            "name": name,
            "real_name": True,
            "wants_confidential": False,
            "needs_assistance": False,
            "created_at": at,
            "updated_at": at,
        }

    def write(session: Session) -> tuple[list[Any], list[Any]]:
        conn = session.connection()
        first = upsert.run(conn, [citizen("+8613900000001", "甲")])
        # one known (an update: not the last inserted id), one new, in this order
        second = upsert.run(
            conn, [citizen("+8613900000002", "乙"), citizen("+8613900000001", "甲二")]
        )
        return first, second

    first, second = await ctx.db.write(write)

    def read(session: Session) -> dict[str, tuple[int, str]]:
        rows = session.execute(
            text("SELECT phone, id, name FROM citizens WHERE phone LIKE '+86139000000%'")
        )
        return {phone: (citizen_id, name) for phone, citizen_id, name in rows}

    stored = await ctx.db.write(read)
    assert first == [(stored["+8613900000001"][0], "+8613900000001")]
    assert second == [
        (stored["+8613900000002"][0], "+8613900000002"),
        (stored["+8613900000001"][0], "+8613900000001"),
    ]
    assert stored["+8613900000001"][1] == "甲二"


def _citizen(phone: str) -> dict[str, Any]:
    at = datetime(2026, 11, 27, 9, 0, tzinfo=SHANGHAI)
    return {
        "phone": phone,
        "phone_raw": phone,
        "name": None,
        "real_name": False,
        "wants_confidential": False,
        "needs_assistance": False,
        "created_at": at,
        "updated_at": at,
    }


async def test_linked_rows_take_the_ids_of_their_parents(ctx: Context) -> None:
    """Children name their parent by its key; stored, they hold its id (on PostgreSQL the whole
    lot is one statement). A child table without rows is left out."""
    linked = LinkedInsert(
        RowInsert(CITIZENS, CITIZENS.c.id, CITIZENS.c.phone),
        CITIZENS.c.phone,
        (RowInsert(CONTACTS, CONTACTS.c.id, CONTACTS.c.channel_ref), CONTACTS.c.citizen_id),
        (RowInsert(CONTACTS), CONTACTS.c.citizen_id),
    )
    first, second = "+8613900000011", "+8613900000012"
    returning = [
        {**row, "citizen_id": phone}
        for row, phone in zip(_rows("linked"), [first, second, first], strict=True)
    ]
    plain = [{**_rows("plain")[0], "citizen_id": second}]

    def write(session: Session) -> Any:
        conn = session.connection()
        made = linked.run(conn, [_citizen(first), _citizen(second)], [returning, plain])
        alone = linked.run(conn, [_citizen("+8613900000013")], [[], []])
        return made, alone, linked.run(conn, [], [[], []])

    (citizens, (contacts, nothing)), alone, empty = await ctx.db.write(write)

    def read(session: Session) -> tuple[dict[str, int], dict[str, tuple[int, int]]]:
        ids = dict(session.execute(text("SELECT phone, id FROM citizens")).all())
        rows = session.execute(text("SELECT channel_ref, id, citizen_id FROM contacts"))
        return ids, {ref: (contact_id, citizen) for ref, contact_id, citizen in rows}

    ids, stored = await ctx.db.write(read)
    assert sorted(citizens) == sorted([(ids[first], first), (ids[second], second)])
    assert sorted(contacts) == sorted((stored[f"linked-{i}"][0], f"linked-{i}") for i in range(3))
    assert nothing == []
    assert [stored[f"linked-{i}"][1] for i in range(3)] == [ids[first], ids[second], ids[first]]
    assert stored["plain-0"][1] == ids[second]
    assert alone == ([(ids["+8613900000013"], "+8613900000013")], [[], []])
    assert empty == ([], [[], []])


def test_a_linked_insert_needs_its_parents_id_and_key_and_plain_returns() -> None:
    contacts = (RowInsert(CONTACTS), CONTACTS.c.citizen_id)
    with pytest.raises(ValueError, match="id and phone"):
        LinkedInsert(RowInsert(CITIZENS, CITIZENS.c.id), CITIZENS.c.phone, contacts)
    with pytest.raises(ValueError, match=r"contacts\.received_at"):
        LinkedInsert(
            RowInsert(CITIZENS, CITIZENS.c.id, CITIZENS.c.phone),
            CITIZENS.c.phone,
            (RowInsert(CONTACTS, CONTACTS.c.received_at), CONTACTS.c.citizen_id),
        )


_GUARD = (
    update(TICKET_NUMBER_SEQUENCES)
    .where(
        TICKET_NUMBER_SEQUENCES.c.day == bindparam("counter_day"),
        TICKET_NUMBER_SEQUENCES.c.last == bindparam("expected"),
    )
    .values(last=bindparam("new_last"))
    .returning(TICKET_NUMBER_SEQUENCES.c.last)
)
_CHAIN = Chain(
    _GUARD,
    (RowInsert(CITIZENS, CITIZENS.c.id, CITIZENS.c.phone, CITIZENS.c.name), None),
    (
        RowInsert(CONTACTS, CONTACTS.c.id, CONTACTS.c.channel_ref),
        Link(
            0,
            CONTACTS.c.citizen_id,
            CITIZENS.c.phone,
            CITIZENS.c.id,
            copies=((CONTACTS.c.content, CITIZENS.c.name),),
        ),
    ),
    (RowInsert(CONTACTS), Link(0, CONTACTS.c.citizen_id, CITIZENS.c.phone, CITIZENS.c.id)),
)


async def test_a_chain_is_written_whole_and_only_if_its_guard_writes(ctx: Context) -> None:
    """One statement, its own transaction: the guard first, then the steps linked to their
    parents (and columns copied from them), and the notices only if the guard wrote."""
    if not ctx.db.statements_alone:
        with pytest.raises(InvalidRequestError):
            await ctx.db.alone(_CHAIN.run, {}, [[_citizen("+8613900000021")], [], []])
        return
    async with ctx.db.sessions() as session, session.begin():
        await session.execute(insert(TICKET_NUMBER_SEQUENCES).values(day="20261127", last=5))
    first, second = "+8613900000021", "+8613900000022"
    citizens = [{**_citizen(first), "name": "王女士"}, {**_citizen(second), "name": "李先生"}]
    returning = [
        {**row, "citizen_id": phone}
        for row, phone in zip(_rows("chain"), [first, second, first], strict=True)
    ]
    plain = [{**_rows("chain-plain")[0], "citizen_id": second}]
    heard: list[str] = []
    dsn = make_url(ctx.settings.database_url).set(drivername="postgresql")
    listener = await asyncpg.connect(dsn.render_as_string(hide_password=False))
    await listener.add_listener("rows_test", lambda *args: heard.append(args[-1]))
    try:
        params = {"counter_day": "20261127", "expected": 4, "new_last": 8}
        notices = [("rows_test", "一"), ("rows_test", "二")]
        missed = await ctx.db.alone(_CHAIN.run, params, [citizens, returning, plain], notices)
        assert missed == (None, [[], [], []])
        params["expected"] = 5
        taken, (made, contacts, nothing) = await ctx.db.alone(
            _CHAIN.run, params, [citizens, returning, plain], notices
        )
        for _ in range(50):
            if len(heard) == 2:
                break
            await asyncio.sleep(0.02)
    finally:
        await listener.close()
    assert taken == 8
    assert heard == ["一", "二"]  # the missed run sent none

    def read(session: Session) -> Any:
        ids = dict(session.execute(text("SELECT phone, id FROM citizens")).all())
        rows = session.execute(text("SELECT channel_ref, id, citizen_id, content FROM contacts"))
        last = session.execute(text("SELECT last FROM ticket_number_sequences")).scalar_one()
        return (
            ids,
            {ref: (contact_id, citizen, content) for ref, contact_id, citizen, content in rows},
            last,
        )

    ids, stored, last = await ctx.db.write(read)
    assert last == 8
    assert sorted(made) == sorted([(ids[first], first, "王女士"), (ids[second], second, "李先生")])
    assert sorted(contacts) == sorted((stored[f"chain-{i}"][0], f"chain-{i}") for i in range(3))
    assert nothing == []
    assert [stored[f"chain-{i}"][1:] for i in range(3)] == [
        (ids[first], "王女士"),
        (ids[second], "李先生"),
        (ids[first], "王女士"),
    ]
    assert stored["chain-plain-0"][1:] == (ids[second], _rows("x")[0]["content"])

    def in_a_transaction(session: Session) -> Any:
        return _CHAIN.run(session.connection(), params, [citizens, returning, plain])

    with pytest.raises(InvalidRequestError, match="transaction is open"):
        await ctx.db.write(in_a_transaction)


def test_a_chain_starts_with_its_one_step_without_a_parent() -> None:
    citizens = (RowInsert(CITIZENS, CITIZENS.c.id, CITIZENS.c.phone), None)
    linked = Link(0, CONTACTS.c.citizen_id, CITIZENS.c.phone, CITIZENS.c.id)
    with pytest.raises(ValueError, match="first step"):
        Chain(_GUARD, (RowInsert(CONTACTS), linked))
    with pytest.raises(ValueError, match="first step"):
        Chain(_GUARD, citizens, (RowInsert(CONTACTS), None))
    with pytest.raises(ValueError, match="first step"):
        Chain(_GUARD, citizens, (RowInsert(CONTACTS), linked._replace(parent=1)))
