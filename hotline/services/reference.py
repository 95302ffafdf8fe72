"""A read-mostly snapshot of reference data (divisions, units, categories) for validation.

Intake validates codes on every contact; a database round trip each time would be waste, so
the snapshot is reloaded when older than ``ttl`` seconds or when :meth:`invalidate` is called
(``hotline seed`` runs in another process: the TTL bounds how stale a running server can be).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from sqlalchemy import select

from hotline.storage.db import Database
from hotline.storage.reference import Category, Department, Division


@dataclass(frozen=True)
class DivisionRef:
    code: str
    name: str
    level: str
    parent_code: str | None
    urban: bool
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class DepartmentRef:
    code: str
    name: str
    level: str
    kind: str
    parent_code: str | None
    division_code: str | None
    active: bool


@dataclass(frozen=True)
class CategoryRef:
    code: str
    name: str
    mode: str
    department_code: str | None
    push_down: bool


@dataclass(frozen=True)
class ReferenceData:
    divisions: dict[str, DivisionRef] = field(default_factory=dict)
    departments: dict[str, DepartmentRef] = field(default_factory=dict)
    categories: dict[str, CategoryRef] = field(default_factory=dict)


class ReferenceCache:
    def __init__(self, db: Database, ttl: float = 60.0) -> None:
        self._db = db
        self._ttl = ttl
        self._data: ReferenceData | None = None
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._data = None

    async def get(self) -> ReferenceData:
        data = self._data
        if data is not None and time.monotonic() - self._loaded_at < self._ttl:
            return data
        async with self._lock:
            if self._data is None or time.monotonic() - self._loaded_at >= self._ttl:
                self._data = await self._load()
                self._loaded_at = time.monotonic()
            return self._data

    async def _load(self) -> ReferenceData:
        async with self._db.reads() as session:
            divisions = (await session.scalars(select(Division))).all()
            departments = (await session.scalars(select(Department))).all()
            categories = (await session.scalars(select(Category))).all()
        return ReferenceData(
            divisions={
                d.code: DivisionRef(
                    d.code, d.name, d.level, d.parent_code, d.urban, tuple(d.aliases or ())
                )
                for d in divisions
            },
            departments={
                d.code: DepartmentRef(
                    d.code, d.name, d.level, d.kind, d.parent_code, d.division_code, d.active
                )
                for d in departments
            },
            categories={
                c.code: CategoryRef(c.code, c.name, c.mode, c.department_code, c.push_down)
                for c in categories
            },
        )
