"""Prebuilt INSERTs for hot batches: rows of plain values in, generated keys out.

The intake writes a few dozen rows per batch into three tables. Through SQLAlchemy's
executemany with RETURNING ("insertmanyvalues") most of a batch's time on SQLite went to
per-row, per-parameter bookkeeping, more than SQLite's own work. :class:`RowInsert` keeps
SQLAlchemy for what it is for: the statement is built and compiled by SQLAlchemy for the
dialect, and every value passes through its column type's own bind processor (the same text
for a timestamp, the same JSON), looked up once. On SQLite the rows then go straight to the
DBAPI cursor inside the caller's transaction, as one prepared statement that ``sqlite3``
keeps: ``executemany`` when nothing is returned, otherwise one ``execute`` per row with the
new row's id from ``lastrowid``. (Not ``RETURNING``: SQLite prepares such a statement again
for every row, which costs more than the insert.) On other databases (PostgreSQL) it is
SQLAlchemy's own executemany with RETURNING.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Column, Table, insert
from sqlalchemy.engine import Connection, Dialect

_FROM_ROW = object()

#: a statement's positional parameter: its column's key, the value (``_FROM_ROW``: the row's)
_Param = tuple[str, Any]
_Processors = list[tuple[int, Callable[[Any], Any]]]


class RowInsert:
    """``INSERT INTO table`` for rows of column values, all with the same keys (compiled once
    per set of keys). A column a row leaves out gets its scalar default; one with a computed
    default must be given. ``returning``: columns to return for each row, of which on SQLite
    only the integer primary key comes from the database and the others must be in the rows.
    """

    def __init__(self, table: Table, *returning: Column[Any]) -> None:
        self.table = table
        self.returning = returning
        self.stmt = insert(table).returning(*returning) if returning else insert(table)
        self._plain = insert(table)
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
            if not self.returning:
                cursor.executemany(sql, values)
                return []
            out = []
            for row, value in zip(rows, values, strict=True):
                cursor.execute(sql, value)
                out.append(self._returned(row, cursor.lastrowid))
            return out
        finally:
            cursor.close()

    def _returned(self, row: dict[str, Any], rowid: int) -> tuple[Any, ...]:
        return tuple(rowid if column.primary_key else row[column.key] for column in self.returning)

    def _prepare(
        self, dialect: Dialect, keys: tuple[str, ...]
    ) -> tuple[str, list[_Param], _Processors]:
        prepared = self._prepared.get((dialect.name, keys))
        if prepared is not None:
            return prepared
        for returned in self.returning:
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
