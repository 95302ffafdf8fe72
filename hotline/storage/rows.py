"""Prebuilt statements for the intake's batch: rows of plain values in, rows out.

The intake writes a few dozen rows per batch into four tables and reads what it needs with a
few queries, in one synchronous unit of work (``Database.write``). Through SQLAlchemy's
execution layer most of that time went to per-statement and per-row bookkeeping (building the
cache key, expanding ``IN`` lists, parameter dictionaries, result objects): about 0.2 ms a
statement on this path, more than SQLite's own work. These keep SQLAlchemy for what it is for:
every statement is built and compiled by SQLAlchemy for the dialect (once), every value passes
through its column type's own bind processor (the same text for a timestamp, the same JSON) and
every result through its result processor. The compiled statement then goes straight to the
driver, inside the caller's transaction: on SQLite to the DBAPI cursor (``sqlite3`` keeps the
prepared statement), on PostgreSQL to asyncpg's connection (its statement cache keeps the
prepared statement), begun as SQLAlchemy's asyncpg adapter begins it and with its errors raised
as SQLAlchemy raises them (``IntegrityError``...). There a statement cost about 100 µs of CPU
instead of 250 through SQLAlchemy's execution, and rows go in as one JSON document a statement
(``jsonb_array_elements``), one statement whatever their number: asyncpg's encoding of one
array a column cost 0.4 us a value, about as much as the rest of the batch's statement, the
document a few microseconds. Other databases get plain SQLAlchemy
executions.

* :class:`RowInsert`: rows into a table. On SQLite ``executemany`` when nothing is returned,
  otherwise one ``execute`` per row with the new row's id from ``lastrowid`` (not
  ``RETURNING``: SQLite prepares such a statement again for every row, which costs more than
  the insert). On PostgreSQL ``INSERT ... SELECT ... FROM jsonb_array_elements($1) RETURNING``,
  each value taken from its row's document as its column's type.
* :class:`LinkedInsert`: parent rows and the child rows that name their parent by a unique
  key (tickets, their opening events, their contacts); on PostgreSQL one statement of
  data-modifying CTEs instead of one round trip a table.
* :class:`RowQuery`: a SELECT (or a single-row statement with RETURNING) with one set of
  parameters, ``IN`` lists included (``bindparam(..., expanding=True)``).

``tests/integration/test_rows.py`` holds them to what SQLAlchemy's own execution stores and
returns, and raises.
"""

from __future__ import annotations

import json
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from typing import Any, NamedTuple

from sqlalchemy import (
    JSON,
    Column,
    Date,
    DateTime,
    Enum,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    cast,
    column,
    func,
    insert,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError, InvalidRequestError
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.util import await_only

_FROM_ROW = object()

#: a statement's positional parameter: its column's key, the value (``_FROM_ROW``: the row's)
_Param = tuple[str, Any]
_Processors = list[tuple[int, Callable[[Any], Any]]]


class _Part(NamedTuple):
    """Rows as one JSON document for PostgreSQL (an array of arrays, one a row): which values
    (a row's or a default), their processors and the document's parameter name."""

    params: list[_Param]
    processors: _Processors
    binds: list[str]

    def values(self, rows: Sequence[dict[str, Any]]) -> list[str]:
        """The parameters' values: the rows' document."""
        values = []
        for row in rows:
            value = [row[name] if given is _FROM_ROW else given for name, given in self.params]
            for i, processor in self.processors:
                value[i] = processor(value[i])
            values.append(value)
        return [_DOCUMENT.encode(values)]


#: a row document's writer: what it cannot write (a value of a type JSON has not) is refused,
#: as SQLAlchemy's JSON serializer refuses it
_DOCUMENT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _document_processor(type_: Any, dialect: Dialect) -> tuple[Callable[[Any], Any] | None, bool]:
    """How a column's value goes into a row document: its processor (None: as it is) and
    whether it is read back as JSON (``->``) rather than as text (``->>``).

    A JSON column's value goes in as JSON (not as the text its bind processor would make, to
    be parsed again), where SQLAlchemy would store the same: a None is JSON ``null`` unless the
    type stores None as SQL NULL (then its processor decides). A timestamp goes in as ISO
    8601 text with its offset, after its type's processor; the last one's text is kept for
    the next identical value (a batch's rows carry the same instant many times)."""
    impl = type_.dialect_impl(dialect)
    processor = impl.bind_processor(dialect)
    if isinstance(impl, JSON) and not impl.none_as_null:
        return None, True
    if issubclass(type_._type_affinity, DateTime | Date):
        last: list[Any] = [None, None]

        def text(value: Any) -> Any:
            if value is last[0]:
                return last[1]
            out = processor(value) if processor is not None else value
            last[0], last[1] = value, (None if out is None else out.isoformat())
            return last[1]

        return text, False
    return processor, False


class _DocumentInsert(NamedTuple):
    """A PostgreSQL ``INSERT ... SELECT ... FROM jsonb_array_elements(...)``: its SQL, its rows'
    document and the
    returned columns' processors."""

    sql: str
    part: _Part
    results: list[Callable[[Any], Any] | None]


class _Linked(NamedTuple):
    """A :class:`LinkedInsert`'s statement for one combination of keys: its parts (None: a
    child without rows, left out) and, for each child, its column in the result."""

    sql: str
    parts: list[_Part | None]
    results: list[int | None]
    #: the documents' parameters in the statement's order (CTEs come in the order they are used)
    order: list[str]


def _on_asyncpg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql" and conn.dialect.driver == "asyncpg"


def _pg_fetch(
    conn: Connection, sql: str, args: Sequence[Any], *, alone: bool = False
) -> Sequence[Any]:
    """``sql`` through asyncpg's own connection, in the transaction of ``conn`` (begun here if
    nothing began it yet, as SQLAlchemy's adapter does; ``alone``: no transaction is begun, the
    statement is its own, and none may be open). Called where SQLAlchemy runs synchronous code
    on an async connection (``run_sync``: a greenlet)."""
    with _as_sqlalchemy_raises(conn, sql, args):
        rows: Sequence[Any] = await_only(
            _pg_run(conn.connection.dbapi_connection, sql, args, begin=not alone)
        )
    return rows


@contextmanager
def _as_sqlalchemy_raises(conn: Connection, sql: str, args: Sequence[Any]) -> Iterator[None]:
    """The driver's errors raised as SQLAlchemy raises them (``sqlalchemy.exc.IntegrityError``
    for a unique key taken...); a connection that went away is invalidated."""
    try:
        yield
    except conn.dialect.loaded_dbapi.Error as exc:
        gone = conn.dialect.is_disconnect(exc, conn.connection.dbapi_connection, None)
        if gone:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            sql, list(args), exc, conn.dialect.loaded_dbapi.Error, connection_invalidated=gone
        ) from exc


async def _pg_run(adapted: Any, sql: str, args: Sequence[Any], *, begin: bool) -> Sequence[Any]:
    # what SQLAlchemy's asyncpg cursor does before a statement (sqlalchemy.dialects.postgresql
    # .asyncpg: AsyncAdapt_asyncpg_cursor._prepare_and_execute); tests/integration/test_rows.py
    # holds both to the same transaction and errors
    async with adapted._execute_mutex:
        if adapted._transaction is None and begin:
            await adapted._start_transaction()
        elif adapted._transaction is not None and not begin:
            raise InvalidRequestError("a statement on its own, but a transaction is open")
        try:
            return await adapted._connection.fetch(sql, *args)  # type: ignore[no-any-return]
        except Exception as error:  # translated to the DBAPI's errors
            adapted._handle_exception(error)
            raise  # pragma: no cover - _handle_exception raises


class RowInsert:
    """``INSERT INTO table`` for rows of column values, all with the same keys (compiled once
    per set of keys). A column a row leaves out gets its scalar default; one with a computed
    default must be given. ``returning``: columns to return for each row, of which on SQLite
    only the integer primary key comes from the database and the others must be in the rows.
    ``upsert``: an INSERT ... ON CONFLICT of the dialect (instead of the plain INSERT) and its
    unique conflict column, by which on SQLite the returned values are read after the rows
    are written (one query for all of them).
    """

    def __init__(
        self,
        table: Table,
        *returning: Column[Any],
        upsert: tuple[Insert, Column[Any]] | None = None,
    ) -> None:
        self.table = table
        self.returning = returning
        base = insert(table) if upsert is None else upsert[0]
        self.stmt = base.returning(*returning) if returning else base
        self._plain = base
        #: an upsert that returns: its conflict key, by which what it wrote (new rows and
        #: updated ones) is matched to the rows, and the columns read for that (``returning``
        #: and the key). SQLite reads them back after the rows (the id of an updated row is
        #: not its last inserted id); PostgreSQL's RETURNING gives them.
        self._key = upsert[1] if upsert is not None and returning else None
        self._read_columns = [*returning]
        self._read_back: RowQuery | None = None
        #: where the key is among ``_read_columns`` (found once: ``list.index`` compares
        #: columns with ``==``, which builds a SQL expression for each)
        self._key_at = -1
        if self._key is not None:
            if not any(c is self._key for c in returning):
                self._read_columns.append(self._key)
            self._key_at = _position(self._read_columns, self._key)
            self._read_back = RowQuery(
                select(*self._read_columns).where(self._key.in_(bindparam("keys", expanding=True)))
            )
        self._prepared: dict[
            tuple[str, tuple[str, ...]], tuple[str, list[_Param], _Processors]
        ] = {}
        self._prepared_pg: dict[tuple[str, ...], _DocumentInsert] = {}

    def run(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
        """Insert ``rows`` in the connection's transaction. The ``returning`` values of each
        row: on SQLite in the rows' order, elsewhere in the database's order (match them by
        a returned key)."""
        if not rows:
            return []
        if _on_asyncpg(conn):
            return self._run_pg(conn, rows)
        if conn.dialect.name != "sqlite":
            result = conn.execute(self.stmt, list(rows))
            return [tuple(row) for row in result] if self.returning else []
        keys = tuple(rows[0])
        sql, params, processors = self._prepare(conn.dialect, keys)
        values = []
        for row in rows:
            value = [row[name] if given is _FROM_ROW else given for name, given in params]
            for i, processor in processors:
                value[i] = processor(value[i])
            values.append(value)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        with closing(cursor), _as_sqlalchemy_raises(conn, sql, values):
            if not self.returning or self._read_back is not None:
                cursor.executemany(sql, values)
            else:
                out = []
                for row, value in zip(rows, values, strict=True):
                    cursor.execute(sql, value)
                    out.append(self._returned(row, cursor.lastrowid))
                return out
        return self._read(conn, rows)

    def _read(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
        if self._read_back is None or self._key is None:
            return []
        written = self._read_back.run(conn, {"keys": [row[self._key.key] for row in rows]})
        return self._in_order(rows, written)

    def _in_order(
        self, rows: Sequence[dict[str, Any]], written: Sequence[Any]
    ) -> list[tuple[Any, ...]]:
        """An upsert's ``returning`` values (of ``_read_columns``) in the order of its rows."""
        assert self._key is not None  # noqa: S101 - only upserts that return come here
        key, at, count = self._key.key, self._key_at, len(self.returning)
        found = {row[at]: tuple(row[:count]) for row in written}
        return [found[row[key]] for row in rows]

    def _run_pg(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
        prepared = self._prepare_pg(conn.dialect, tuple(rows[0]))
        fetched = _pg_fetch(conn, prepared.sql, prepared.part.values(rows))
        written = [
            tuple(
                value if processor is None else processor(value)
                for processor, value in zip(prepared.results, row, strict=True)
            )
            for row in fetched
        ]
        return written if self._key is None else self._in_order(rows, written)

    def _prepare_pg(self, dialect: Dialect, keys: tuple[str, ...]) -> _DocumentInsert:
        prepared = self._prepared_pg.get(keys)
        if prepared is not None:
            return prepared
        stmt, part = self._from_document_rows(dialect, keys, "column")
        returned = self._read_columns
        if returned:
            stmt = stmt.returning(*returned)
        compiled = stmt.compile(dialect=dialect)
        if list(compiled.positiontup or ()) != part.binds:
            raise ValueError(f"{self.table.name}: unexpected parameters")  # pragma: no cover
        prepared = _DocumentInsert(
            compiled.string,
            part,
            [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in returned],
        )
        self._prepared_pg[keys] = prepared
        return prepared

    def _from_document_rows(
        self,
        dialect: Dialect,
        keys: tuple[str, ...],
        prefix: str,
        link: tuple[str, Any, Column[Any], Column[Any]] | None = None,
        copies: Sequence[tuple[str, Column[Any]]] = (),
        when: Any = None,
    ) -> tuple[Insert, _Part]:
        """``INSERT ... SELECT ... FROM jsonb_array_elements(<the rows' document>)`` for rows
        with these keys, the document's parameter named ``prefix_rows``. ``link``: (foreign key,
        parent CTE, parent key, parent id): the rows give the parent's key under the foreign
        key, joined to the CTE for its id. ``copies``: (column, parent column) also taken from
        the parent's row (what the rows give there is not used). ``when``: a condition on the
        SELECT."""
        params, _ = self._params(dialect, keys)
        names = [name for name, _ in params]
        types = [self.table.c[name].type for name in names]
        if link is not None:
            types[names.index(link[0])] = link[2].type
        processors: _Processors = []
        as_json = []
        for i, type_ in enumerate(types):
            processor, json_value = _document_processor(type_, dialect)
            if processor is not None:
                processors.append((i, processor))
            as_json.append(json_value)
        bind = f"{prefix}_rows"
        rows = (
            func.jsonb_array_elements(bindparam(bind, type_=JSONB))
            .table_valued(column("value", JSONB))
            .render_derived(f"{prefix}_row")
        )
        values = {
            name: _from_document(rows.c.value, i, type_, dialect, as_json[i]).label(name)
            for i, (name, type_) in enumerate(zip(names, types, strict=True))
        }
        if link is None:
            chosen = select(*(values[name] for name in names)).select_from(rows)
        else:
            fk, parent, key, parent_id = link
            taken = {fk: parent.c[parent_id.key], **{n: parent.c[c.key] for n, c in copies}}
            chosen = select(*(taken.get(name, values[name]) for name in names)).select_from(
                rows.join(parent, parent.c[key.key] == values[fk])
            )
        if when is not None:
            chosen = chosen.where(when)
        return self._plain.from_select(names, chosen), _Part(params, processors, [bind])

    def _returned(self, row: dict[str, Any], rowid: int) -> tuple[Any, ...]:
        return tuple(rowid if column.primary_key else row[column.key] for column in self.returning)

    def _prepare(
        self, dialect: Dialect, keys: tuple[str, ...]
    ) -> tuple[str, list[_Param], _Processors]:
        prepared = self._prepared.get((dialect.name, keys))
        if prepared is not None:
            return prepared
        for returned in () if self._read_back else self.returning:
            if returned.key not in keys and not (
                returned.primary_key and returned.autoincrement in (True, "auto")
            ):
                raise ValueError(f"{self.table.name}.{returned.key}: rows must give what returns")
        compiled = self._plain.compile(dialect=dialect, column_keys=list(keys))
        params, processors = self._params(dialect, keys, compiled)
        prepared = (compiled.string, params, processors)
        self._prepared[(dialect.name, keys)] = prepared
        return prepared

    def _params(
        self, dialect: Dialect, keys: tuple[str, ...], compiled: SQLCompiler | None = None
    ) -> tuple[list[_Param], _Processors]:
        """The INSERT's parameters for rows with these keys, in order: a row's value or a left
        out column's scalar default, and the bind processors of their column types."""
        if compiled is None:
            compiled = self._plain.compile(dialect=dialect, column_keys=list(keys))
        if compiled.positiontup is None:  # pragma: no cover - qmark (sqlite), $1 (asyncpg)
            raise ValueError(f"{dialect.name}: positional parameters expected")
        params: list[_Param] = []
        processors: _Processors = []
        for i, name in enumerate(compiled.positiontup):
            found = self.table.c.get(name)
            if found is None:
                raise ValueError(f"{self.table.name}: parameter {name} is not a column")
            column: Column[Any] = found
            given: Any = _FROM_ROW
            if name not in keys:
                default = column.default
                if default is None or not default.is_scalar:
                    raise ValueError(f"{self.table.name}.{name}: a row must give it")
                given = default.arg  # type: ignore[attr-defined]
            params.append((name, given))
            processor = column.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                processors.append((i, processor))
        return params, processors


class RowQuery:
    """``stmt`` (a Core SELECT, or an INSERT/UPDATE with RETURNING) run with one set of
    parameters. Its rows are named tuples (attribute access by column key, as SQLAlchemy's
    rows), with the columns' result processors applied.

    An ``IN`` list (``bindparam(..., expanding=True)``) is expanded for each run, on PostgreSQL
    too: there ``col = ANY($1::type[])`` would be one statement for any number of values, but
    PostgreSQL plans it again at every run (its generic plan's guess of the array's length never
    wins), which cost its backend 240-300 us a lookup against 60-140 for the list, whose
    statement (one for each length) gets a generic plan after five runs.
    """

    def __init__(self, stmt: Executable) -> None:
        self.stmt = stmt
        self._prepared: dict[str, _Query] = {}

    def run(self, conn: Connection, params: Mapping[str, Any] | None = None) -> list[Any]:
        pg = _on_asyncpg(conn)
        if conn.dialect.name != "sqlite" and not pg:
            return list(conn.execute(self.stmt, dict(params or {})))
        query = self._prepare(conn.dialect)
        params = params or {}
        if query.plan is not None:  # nothing to expand: the parameters in their places
            sql, values = query.compiled.string, [get(params) for get in query.plan]
        else:
            state = query.compiled.construct_expanded_state(params)
            # the plain parameters' processors, and those of the ``IN`` lists' expanded ones
            processors = {**query.binds, **state.processors} if state.processors else query.binds
            sql = state.statement
            values = [
                processor(value) if (processor := processors.get(key)) is not None else value
                for key, value in zip(
                    state.positiontup or (), state.positional_parameters, strict=True
                )
            ]
        fetched: Sequence[Any]
        if pg:
            fetched = _pg_fetch(conn, sql, values)
        else:
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            with closing(cursor), _as_sqlalchemy_raises(conn, sql, values):
                cursor.execute(sql, values)
                fetched = cursor.fetchall()
        results = query.results
        return [
            query.row_type._make(
                value if processor is None else processor(value)
                for processor, value in zip(results, row, strict=True)
            )
            for row in fetched
        ]

    def _prepare(self, dialect: Dialect) -> _Query:
        prepared = self._prepared.get(dialect.name)
        if prepared is not None:
            return prepared
        compiled = self.stmt.compile(dialect=dialect)  # type: ignore[attr-defined]
        if not isinstance(compiled, SQLCompiler):  # pragma: no cover - DDL is not for this
            raise TypeError("a SELECT or DML statement is needed")
        columns = list(self.stmt.exported_columns)  # type: ignore[attr-defined]
        row_type = namedtuple("Row", [column.key for column in columns])  # type: ignore[misc]
        results = [
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        ]
        binds = {
            name: processor
            for name, bind in compiled.binds.items()
            if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        }
        plain = all(
            not bind.expanding and bind.callable is None for bind in compiled.binds.values()
        )
        plan = (
            [_getter(compiled.binds[name], binds.get(name)) for name in compiled.positiontup or ()]
            if plain
            else None
        )
        prepared = _Query(compiled, row_type, results, binds, plan)
        self._prepared[dialect.name] = prepared
        return prepared


class _Query(NamedTuple):
    """A :class:`RowQuery` compiled for a dialect."""

    compiled: SQLCompiler
    row_type: Any
    results: list[Callable[[Any], Any] | None]
    binds: Mapping[str, Callable[[Any], Any]]
    #: for a statement without ``IN`` lists: how to get each positional parameter's value
    plan: list[Callable[[Mapping[str, Any]], Any]] | None


_REQUIRED = object()


def _getter(
    bind: BindParameter[Any], processor: Callable[[Any], Any] | None
) -> Callable[[Mapping[str, Any]], Any]:
    """A positional parameter's value from the run's parameters (by the bind's key), else its
    own value, through its type's processor: what ``construct_params`` does for it."""
    key = bind.key
    default = _REQUIRED if bind.required else bind.value

    def get(params: Mapping[str, Any]) -> Any:
        value = params.get(key, default)
        if value is _REQUIRED:
            raise InvalidRequestError(f"A value is required for bind parameter {key!r}")
        return value if processor is None else processor(value)

    return get


class LinkedInsert:
    """Rows of a parent table and rows of child tables that reference them, written together.

    Each child row gives its parent's ``key`` (a unique column the parent returns) in place of
    its foreign key, and the parent's new id takes its place. On PostgreSQL (asyncpg) this is
    one statement, one round trip instead of one a table: the inserts as data-modifying CTEs,
    each child's rows joined to the parent's RETURNING by the key, and what is returned
    aggregated as JSON (so returned columns must be integers or strings). Elsewhere one
    :class:`RowInsert` after another. ``run`` gives the parent's ``returning`` values and each
    child's, in the database's order (match them by a returned key).
    """

    def __init__(
        self, parent: RowInsert, key: Column[Any], *children: tuple[RowInsert, Column[Any]]
    ) -> None:
        ids = [c for c in parent.returning if c.primary_key]
        if len(ids) != 1 or key not in parent.returning:
            raise ValueError(f"{parent.table.name}: the parent must return its id and {key.key}")
        for child, _ in children:
            for returned in (*parent.returning, *child.returning):
                if not isinstance(returned.type, Integer | String):
                    raise ValueError(f"{returned.table}.{returned.key}: integers and strings only")
        self.parent, self.key, self.children = parent, key, children
        self._id = ids[0]
        self._id_at = _position(parent.returning, self._id)
        self._key_at = _position(parent.returning, key)
        self._prepared: dict[tuple[tuple[str, ...] | None, ...], _Linked] = {}

    def run(
        self,
        conn: Connection,
        parents: Sequence[dict[str, Any]],
        children: Sequence[Sequence[dict[str, Any]]],
    ) -> tuple[list[tuple[Any, ...]], list[list[tuple[Any, ...]]]]:
        if not parents:
            return [], [[] for _ in self.children]
        if not _on_asyncpg(conn):
            made = self.parent.run(conn, parents)
            ids = {row[self._key_at]: row[self._id_at] for row in made}
            return made, [
                child.run(conn, [{**row, fk.key: ids[row[fk.key]]} for row in rows])
                for (child, fk), rows in zip(self.children, children, strict=True)
            ]
        keys = (tuple(parents[0]), *(tuple(rows[0]) if rows else None for rows in children))
        linked = self._prepare_pg(conn.dialect, keys)
        given: dict[str, Any] = {}
        for part, rows in zip(linked.parts, [parents, *children], strict=True):
            if part is not None:
                given.update(zip(part.binds, part.values(rows), strict=True))
        (row,) = _pg_fetch(conn, linked.sql, [given[name] for name in linked.order])
        made = [tuple(value) for value in row[0]]
        return made, [
            [] if at is None else [tuple(v) for v in row[at] or ()] for at in linked.results
        ]

    def _prepare_pg(self, dialect: Dialect, keys: tuple[tuple[str, ...] | None, ...]) -> _Linked:
        prepared = self._prepared.get(keys)
        if prepared is not None:
            return prepared
        parent_keys, *child_keys = keys
        assert parent_keys is not None  # noqa: S101 - run() gives the parents' keys
        stmt, part = self.parent._from_document_rows(dialect, parent_keys, "parent")
        parent = stmt.returning(*self.parent.returning).cte("parent")
        parts: list[_Part | None] = [part]
        returned = [_json_rows(parent)]
        unreferenced = []
        results: list[int | None] = []
        for n, ((child, fk), these) in enumerate(zip(self.children, child_keys, strict=True)):
            if these is None:
                parts.append(None)
                results.append(None)
                continue
            link = (fk.key, parent, self.key, self._id)
            stmt, part = child._from_document_rows(dialect, these, f"child{n}", link)
            parts.append(part)
            if child.returning:
                written = stmt.returning(*child.returning).cte(f"child{n}")
                results.append(len(returned))
                returned.append(_json_rows(written))
            else:
                unreferenced.append(stmt.cte(f"child{n}"))
                results.append(None)
        final = select(*returned)
        if unreferenced:
            final = final.add_cte(*unreferenced)
        compiled = final.compile(dialect=dialect)
        order = list(compiled.positiontup or ())
        if sorted(order) != sorted(b for p in parts if p is not None for b in p.binds):
            raise ValueError(f"{self.parent.table.name}: unexpected parameters")  # pragma: no cover
        prepared = _Linked(compiled.string, parts, results, order)
        self._prepared[keys] = prepared
        return prepared


class Link(NamedTuple):
    """How a :class:`Chain` step's rows name their parent: in ``column`` the rows give the
    parent's ``key`` (a column the parent returns), and the parent's ``id`` takes its place;
    ``copies``: (column, parent column) also taken from the parent's row."""

    parent: int
    column: Column[Any]
    key: Column[Any]
    id: Column[Any]
    copies: tuple[tuple[Column[Any], Column[Any]], ...] = ()


class _Chained(NamedTuple):
    """A :class:`Chain`'s statement for one combination of the steps' keys."""

    sql: str
    parts: list[_Part]
    #: the guard's and the notices' parameters: name -> how to get its value from the run's
    #: parameters
    plain: dict[str, Callable[[Mapping[str, Any]], Any]]
    order: list[str]


class Chain:
    """PostgreSQL (asyncpg): rows into several tables by one statement that is its own
    transaction, written only if ``guard`` writes.

    ``guard`` is a data-modifying statement with RETURNING (one value), run first; the first
    step's rows are written only if it returned a row, and each later step's rows are joined
    to an earlier step's RETURNING by a :class:`Link` (so none is written without the first).
    With the rows go NOTIFY messages, sent only if the guard wrote. One round trip, no BEGIN or
    COMMIT of its own: for a batch whose every part is known before it is written (the
    intake's new tickets, ``hotline.services.intake``). Every step must have rows.
    ``run`` gives the guard's value (None: nothing was written) and each step's ``returning``
    values, in the database's order (match them by a returned key); returned columns must be
    integers or strings (they come back as JSON).
    """

    def __init__(self, guard: Executable, *steps: tuple[RowInsert, Link | None]) -> None:
        for n, (insert_, link) in enumerate(steps):
            if (link is None) != (n == 0) or (link is not None and link.parent >= n):
                raise ValueError("the first step has no parent, every other an earlier one")
            for returned in insert_.returning:
                if not isinstance(returned.type, Integer | String):
                    raise ValueError(f"{returned.table}.{returned.key}: integers and strings only")
        self.guard, self.steps = guard, steps
        self._prepared: dict[tuple[tuple[str, ...], ...], _Chained] = {}

    def run(
        self,
        conn: Connection,
        params: Mapping[str, Any],
        rows: Sequence[Sequence[dict[str, Any]]],
        notices: Sequence[tuple[str, str]] = (),
    ) -> tuple[Any, list[list[tuple[Any, ...]]]]:
        if not _on_asyncpg(conn):
            raise InvalidRequestError("Chain is for PostgreSQL through asyncpg")
        if conn.in_transaction():
            raise InvalidRequestError("a statement on its own, but a transaction is open")
        if len(rows) != len(self.steps) or not all(rows):
            raise ValueError("rows for every step are needed")
        chained = self._prepare(conn.dialect, tuple(tuple(these[0]) for these in rows))
        given = {
            **params,
            "notice_channels": [channel for channel, _ in notices],
            "notice_payloads": [payload for _, payload in notices],
        }
        values: dict[str, Any] = {name: get(given) for name, get in chained.plain.items()}
        for part, these in zip(chained.parts, rows, strict=True):
            values.update(zip(part.binds, part.values(these), strict=True))
        (row,) = _pg_fetch(conn, chained.sql, [values[name] for name in chained.order], alone=True)
        found = iter(row[2:])
        returned = [
            [tuple(v) for v in next(found) or ()] if insert_.returning else []
            for insert_, _ in self.steps
        ]
        return row[0], returned

    def _prepare(self, dialect: Dialect, keys: tuple[tuple[str, ...], ...]) -> _Chained:
        prepared = self._prepared.get(keys)
        if prepared is not None:
            return prepared
        guard = self.guard.cte("guard")  # type: ignore[attr-defined]
        ctes: list[Any] = []
        parts: list[_Part] = []
        for n, ((insert_, link), these) in enumerate(zip(self.steps, keys, strict=True)):
            if link is None:
                stmt, part = insert_._from_document_rows(
                    dialect, these, f"step{n}", when=select(guard).exists()
                )
            else:
                stmt, part = insert_._from_document_rows(
                    dialect,
                    these,
                    f"step{n}",
                    (link.column.key, ctes[link.parent], link.key, link.id),
                    [(column.key, source) for column, source in link.copies],
                )
            parts.append(part)
            # a step that returns nothing is still written: PostgreSQL runs every
            # data-modifying CTE, referenced or not
            ctes.append(
                (stmt.returning(*insert_.returning) if insert_.returning else stmt).cte(f"step{n}")
            )
        notices = text_arrays("notice", channel="notice_channels", payload="notice_payloads")
        notified = (
            select(func.pg_notify(notices.c.channel, notices.c.payload).label("sent"))
            .select_from(guard, notices)
            .cte("notified")
        )
        steps = list(zip(ctes, self.steps, strict=True))
        final = select(
            select(*guard.c).scalar_subquery(),
            select(func.count()).select_from(notified).scalar_subquery(),
            *(_json_rows(cte) for cte, (insert_, _) in steps if insert_.returning),
        ).add_cte(*(cte for cte, (insert_, _) in steps if not insert_.returning))
        compiled = final.compile(dialect=dialect)
        order = list(compiled.positiontup or ())
        documents = {b for p in parts for b in p.binds}
        plain = {
            name: _getter(
                compiled.binds[name],
                compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect),
            )
            for name in order
            if name not in documents
        }
        if any(compiled.binds[name].expanding for name in plain):  # pragma: no cover
            raise ValueError("Chain: arrays, not IN lists, in the guard")
        prepared = _Chained(compiled.string, parts, plain, order)
        self._prepared[keys] = prepared
        return prepared


def _from_document(value: Any, at: int, type_: Any, dialect: Dialect, as_json: bool) -> Any:
    """Element ``at`` of a row of a JSON row document, as the column's type: a JSON value as
    it is, anything else from its text, cast to the column's type (strings to ``text``, not
    to a ``varchar(n)`` cast that would cut a value too long: the insert refuses it)."""
    where = f"{value.table.name}.{value.name}"
    if as_json:
        return literal_column(f"{where} -> {int(at)}", JSONB)
    text_of = literal_column(f"{where} ->> {int(at)}", Text)
    impl = type_.dialect_impl(dialect)
    if isinstance(impl, String) and not isinstance(impl, Enum):
        return text_of
    return cast(text_of, type_)


def text_arrays(name: str, **columns: str) -> Any:
    """``unnest`` of text arrays as the derived table ``name`` (PostgreSQL): a column for each
    keyword, from the array parameter its value names."""
    arrays = (bindparam(param, type_=ARRAY(String)) for param in columns.values())
    return (
        func.unnest(*arrays)
        .table_valued(*(column(key, String) for key in columns))
        .render_derived(name)
    )


def _position(columns: Sequence[Column[Any]], wanted: Column[Any]) -> int:
    """Where ``wanted`` is among ``columns`` (by identity: ``==`` on columns is SQL)."""
    return next(i for i, c in enumerate(columns) if c is wanted)


def _json_rows(cte: Any) -> Any:
    """The CTE's rows as one JSON array of arrays (an empty one when there are none)."""
    rows = func.json_agg(func.json_build_array(*cte.c))
    return select(func.coalesce(rows, func.json_build_array())).scalar_subquery()
