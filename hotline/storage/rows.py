"""Prebuilt statements for the intake's batch: rows of plain values in, rows out.

The intake writes a few dozen rows per batch into four tables and reads what it needs with a
few queries, on SQLite on its write thread. Through SQLAlchemy's execution layer most of that
time went to per-statement and per-row bookkeeping (building the cache key, expanding ``IN``
lists, parameter dictionaries, result objects): about 0.2 ms a statement on this path, more
than SQLite's own work. These keep SQLAlchemy for what it is for: every statement is built and
compiled by SQLAlchemy for the dialect (once), every value passes through its column type's
own bind processor (the same text for a timestamp, the same JSON) and every result through its
result processor. On SQLite the compiled statement then goes straight to the DBAPI cursor,
inside the caller's transaction (``sqlite3`` keeps the prepared statement). On other
databases (PostgreSQL) they are plain SQLAlchemy executions.

* :class:`RowInsert`: rows into a table; ``executemany`` when nothing is returned, otherwise
  one ``execute`` per row with the new row's id from ``lastrowid`` (not ``RETURNING``: SQLite
  prepares such a statement again for every row, which costs more than the insert).
* :class:`RowQuery`: a SELECT (or a single-row statement with RETURNING) with one set of
  parameters, ``IN`` lists included (``bindparam(..., expanding=True)``).

``tests/integration/test_rows.py`` holds both to what SQLAlchemy's own execution stores and
returns.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Table, bindparam, insert, select
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Insert

_FROM_ROW = object()

#: a statement's positional parameter: its column's key, the value (``_FROM_ROW``: the row's)
_Param = tuple[str, Any]
_Processors = list[tuple[int, Callable[[Any], Any]]]


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
        #: an upsert's returned values are read back by its conflict key after the rows (the
        #: id of a row that was updated is not SQLite's last inserted id)
        self._read_back: tuple[str, int, RowQuery] | None = None
        if upsert is not None and returning:
            key = upsert[1]
            read = [*returning, *([key] if key not in returning else [])]
            self._read_back = (
                key.key,
                read.index(key),
                RowQuery(select(*read).where(key.in_(bindparam("keys", expanding=True)))),
            )
        self._prepared: dict[
            tuple[str, tuple[str, ...]], tuple[str, list[_Param], _Processors]
        ] = {}

    def run(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
        """Insert ``rows`` in the connection's transaction. The ``returning`` values of each
        row: on SQLite in the rows' order, elsewhere in the database's order (match them by
        a returned key)."""
        if not rows:
            return []
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
        try:
            if not self.returning or self._read_back is not None:
                cursor.executemany(sql, values)
                return self._read(conn, rows)
            out = []
            for row, value in zip(rows, values, strict=True):
                cursor.execute(sql, value)
                out.append(self._returned(row, cursor.lastrowid))
            return out
        finally:
            cursor.close()

    def _read(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
        if self._read_back is None:
            return []
        key, at, query = self._read_back
        written = query.run(conn, {"keys": [row[key] for row in rows]})
        count = len(self.returning)
        found = {row[at]: tuple(row[:count]) for row in written}
        return [found[row[key]] for row in rows]

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
        if compiled.positiontup is None:  # pragma: no cover - sqlite's paramstyle is qmark
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
        prepared = (compiled.string, params, processors)
        self._prepared[(dialect.name, keys)] = prepared
        return prepared


class RowQuery:
    """``stmt`` (a Core SELECT, or an INSERT/UPDATE with RETURNING) run with one set of
    parameters. Its rows are named tuples (attribute access by column key, as SQLAlchemy's
    rows), with the columns' result processors applied."""

    def __init__(self, stmt: Executable) -> None:
        self.stmt = stmt
        self._prepared: dict[str, tuple[SQLCompiler, Any, list[Any], dict[str, Any]]] = {}

    def run(self, conn: Connection, params: Mapping[str, Any] | None = None) -> list[Any]:
        if conn.dialect.name != "sqlite":
            return list(conn.execute(self.stmt, dict(params or {})))
        compiled, row_type, results, binds = self._prepare(conn.dialect)
        state = compiled.construct_expanded_state(params)
        # the plain parameters' processors, and those of the ``IN`` lists' expanded ones
        processors = {**binds, **state.processors} if state.processors else binds
        values = [
            processor(value) if (processor := processors.get(key)) is not None else value
            for key, value in zip(state.positiontup or (), state.positional_parameters, strict=True)
        ]
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(state.statement, values)
            fetched = cursor.fetchall()
        finally:
            cursor.close()
        return [
            row_type._make(
                value if processor is None else processor(value)
                for processor, value in zip(results, row, strict=True)
            )
            for row in fetched
        ]

    def _prepare(self, dialect: Dialect) -> tuple[SQLCompiler, Any, list[Any], dict[str, Any]]:
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
        prepared = (compiled, row_type, results, binds)
        self._prepared[dialect.name] = prepared
        return prepared
