"""Shared fixtures. Database tests run on SQLite by default and on PostgreSQL when
``HOTLINE_TEST_DATABASE_URL`` is set (``.ci/run`` does both).

Each test gets a clean database with the Anyang reference data already seeded:

* SQLite: the schema is migrated and seeded once into a template file, copied per test;
* PostgreSQL: the schema is rebuilt and seeded once per session; each test starts by
  truncating the tables that tests write (tickets, contacts, citizens, history, ...).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from hotline.bootstrap import bootstrap
from hotline.calendar import SHANGHAI
from hotline.clock import FixedClock
from hotline.config import Settings, load_settings
from hotline.services.context import Context
from hotline.services.seed import seed_demo
from hotline.storage import migrate
from hotline.storage.db import create_database
from tests.prism import running_prism

PG_URL = os.environ.get("HOTLINE_TEST_DATABASE_URL")

#: reference tables survive between tests; everything else is truncated (PostgreSQL)
REFERENCE_TABLES = {
    "divisions",
    "departments",
    "categories",
    "users",
    "kb_articles",
    "kb_article_versions",
    "alembic_version",
}

#: a Thursday that is a working day, well inside 2026 (which chinese_calendar covers)
DEFAULT_NOW = datetime(2026, 11, 26, 10, 0, tzinfo=SHANGHAI)


def pytest_report_header() -> str:
    return f"database: {'PostgreSQL ' + PG_URL if PG_URL else 'SQLite (template copied per test)'}"


def make_settings(
    database_url: str, tmp_path: Path, *, environ: dict[str, str] | None = None, **overrides: Any
) -> Settings:
    config = tmp_path / "config.yaml"
    config.write_text("logging: {format: console}\n", encoding="utf-8")
    return load_settings(
        str(config),
        environ={
            "HOTLINE_DATABASE_URL": database_url,
            "HOTLINE_ADMIN_TOKEN": "test-admin-token",
            **(environ or {}),
        },
        overrides=overrides or None,
    )


async def _prepare(url: str, tmp: Path) -> None:
    db = create_database(url)
    try:
        if db.dialect == "postgresql":
            async with db.engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
        await migrate.upgrade(db.engine)
        ctx = bootstrap(make_settings(url, tmp), db=db)
        await seed_demo(ctx)
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Migrated and seeded once per session: a SQLite file, or the PostgreSQL database."""
    tmp = tmp_path_factory.mktemp("db")
    if PG_URL:
        asyncio.run(_prepare(PG_URL, tmp))
        return PG_URL
    path = tmp / "template.db"
    asyncio.run(_prepare(f"sqlite+aiosqlite:///{path}", tmp))
    return str(path)


async def _truncate(url: str) -> None:
    db = create_database(url)
    try:
        async with db.engine.begin() as conn:
            names = (
                await conn.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                )
            ).scalars()
            tables = sorted(set(names) - REFERENCE_TABLES)
            await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    finally:
        await db.dispose()


@pytest.fixture
def database_url(database_template: str, tmp_path: Path) -> Iterator[str]:
    if PG_URL:
        asyncio.run(_truncate(PG_URL))
        yield PG_URL
        return
    path = tmp_path / "hotline.db"
    shutil.copyfile(database_template, path)
    yield f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="session")
def prism_url() -> Iterator[str]:
    """Prism serving Twilio's own OpenAPI description, once per run (skips without it)."""
    with running_prism() as url:
        yield url


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(DEFAULT_NOW)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


@pytest.fixture
async def ctx(settings: Settings, clock: FixedClock) -> AsyncIterator[Context]:
    context = bootstrap(settings, clock=clock)
    yield context
    await context.db.dispose()
