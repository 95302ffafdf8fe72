"""``hotline seed --demo``: Anyang's divisions, units, categories and a few demo users.

Idempotent: every row is an upsert keyed by its code, so running it twice changes nothing.
Reads the packaged copy of the reference data (or the paths under ``data:`` in config).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.auto import engine
from hotline.domain.places import street_code
from hotline.services.context import Context
from hotline.services.knowledge import save_article
from hotline.services.passwords import hash_password
from hotline.storage.knowledge import KbArticle
from hotline.storage.reference import Category, Department, Division
from hotline.storage.upsert import dialect_insert, dialect_of
from hotline.storage.users import User

DEMO_PASSWORD = "hotline-demo"  # noqa: S105 - printed by the CLI; demo data only

DEMO_USERS = [
    ("admin", "系统管理员", "admin", None),
    ("agent1", "坐席一号", "agent", None),
    ("agent2", "坐席二号", "agent", None),
    ("supervisor1", "值班长", "supervisor", None),
    ("gsgs", "供水公司联络员", "department", "GSGS"),
    ("cgj", "城管局联络员", "department", "CGJ"),
    ("wenfeng", "文峰区政府联络员", "department", "GOV-410502"),
]


@dataclass(frozen=True)
class SeedReport:
    divisions: int
    departments: int
    categories: int
    users_created: int
    kb_articles: int = 0


def _load_yaml(path: Path | None, packaged: str) -> dict[str, Any]:
    if path is not None:
        text = path.read_text(encoding="utf-8")
    else:
        text = resources.files("hotline.data").joinpath(packaged).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path or packaged}: expected a mapping")
    return data


def division_rows(divisions: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for unit in divisions["units"]:
        code = str(unit["code"])
        rows.append(
            {
                "code": code,
                "name": unit["name"],
                "level": "county",
                "parent_code": None,
                "urban": bool(unit.get("urban", False)),
                "aliases": list(unit.get("aliases") or []),
            }
        )
        for street in unit.get("streets") or []:
            name = street["name"] if isinstance(street, dict) else str(street)
            given = street.get("code") if isinstance(street, dict) else None
            rows.append(
                {
                    "code": str(given) if given else street_code(code, name),
                    "name": name,
                    "level": "street",
                    "parent_code": code,
                    "urban": bool(unit.get("urban", False)),
                    "aliases": list(street.get("aliases") or [])
                    if isinstance(street, dict)
                    else [],
                }
            )
    return rows


def department_rows(
    taxonomy: dict[str, Any], divisions: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    counties = {d["code"] for d in divisions if d["level"] == "county"}
    for dept in taxonomy["departments"]:
        code = str(dept["code"])
        government = code.startswith("GOV-")
        division = code.removeprefix("GOV-") if government else None
        if division is not None and division not in counties:
            raise ValueError(f"department {code}: no division {division}")
        rows.append(
            {
                "code": code,
                "name": dept["name"],
                "level": "county" if government else "city",
                "kind": "government" if government else dept.get("kind", "department"),
                "parent_code": None,
                "division_code": division,
                "active": True,
            }
        )
    # Street offices and town governments: the second level a county may re-dispatch to.
    for d in divisions:
        if d["level"] != "street":
            continue
        rows.append(
            {
                "code": f"GOV-{d['code']}",
                "name": f"{d['name']}{'办事处' if d['name'].endswith('街道') else '人民政府'}",
                "level": "street",
                "kind": "government",
                "parent_code": f"GOV-{d['parent_code']}",
                "division_code": d["code"],
                "active": True,
            }
        )
    return rows


def category_rows(taxonomy: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "code": c["code"],
            "name": c["name"],
            "mode": c["mode"],
            "department_code": c.get("department"),
            "push_down": bool(c.get("push_down", True)),
        }
        for c in taxonomy["categories"]
    ]


async def _upsert(session: AsyncSession, model: Any, rows: list[dict[str, Any]], key: str) -> None:
    if not rows:
        return
    dialect = dialect_of(session)
    for row in rows:
        stmt = dialect_insert(dialect, model).values(**row)
        stmt = stmt.on_conflict_do_update(
            index_elements=[key], set_={k: v for k, v in row.items() if k != key}
        )
        await session.execute(stmt)


async def seed_demo(ctx: Context, *, users: bool = True) -> SeedReport:
    divisions_data = _load_yaml(ctx.settings.data_path("divisions"), "anyang-divisions.yaml")
    taxonomy = _load_yaml(ctx.settings.data_path("taxonomy"), "anyang-taxonomy.yaml")
    divisions = division_rows(divisions_data)
    departments = department_rows(taxonomy, divisions)
    categories = category_rows(taxonomy)
    created = 0
    async with ctx.db.sessions() as session, session.begin():
        # parents first: counties before streets, units before their offices
        await _upsert(session, Division, [d for d in divisions if d["level"] == "county"], "code")
        await _upsert(session, Division, [d for d in divisions if d["level"] == "street"], "code")
        await _upsert(
            session, Department, [d for d in departments if d["level"] != "street"], "code"
        )
        await _upsert(
            session, Department, [d for d in departments if d["level"] == "street"], "code"
        )
        await _upsert(session, Category, categories, "code")
        if users:
            existing = set(await session.scalars(select(User.username)))
            password_hash = hash_password(DEMO_PASSWORD)
            for username, display, role, dept in DEMO_USERS:
                if username in existing:
                    continue
                session.add(
                    User(
                        username=username,
                        display_name=display,
                        role=role,
                        department_code=dept,
                        password_hash=password_hash,
                        active=True,
                        created_at=ctx.clock.now(),
                    )
                )
                created += 1
    ctx.reference.invalidate()
    articles = await _seed_knowledge(ctx)
    await engine(ctx)  # the 派单目录 of this reference data, stored as a version once
    return SeedReport(len(divisions), len(departments), len(categories), created, articles)


async def _seed_knowledge(ctx: Context) -> int:
    """Demo articles, each written once (an edited article is left as the editors made it)."""
    data = _load_yaml(None, "anyang-kb.yaml")
    async with ctx.db.sessions() as session:
        known = set(await session.scalars(select(KbArticle.code)))
    made = 0
    for item in data.get("articles", []):
        if item["code"] in known:
            continue
        await save_article(
            ctx,
            item["code"],
            title=item["title"],
            body="".join(line.strip() for line in str(item["body"]).splitlines()),
            category=item.get("category"),
            keywords=list(item.get("keywords") or []),
            editor="seed",
        )
        made += 1
    return made
