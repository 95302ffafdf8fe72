"""API keys for departments and partner platforms (``hotline keys add``).

A key reads ``hk_<prefix>_<secret>``; only its SHA-256 is stored, and the prefix finds the row.
Keys are 32 random bytes, so a fast hash is the right one (a password hash is for guessable
secrets); comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from hotline.domain.errors import InvalidField
from hotline.services.context import Context
from hotline.storage.keys import ApiKey
from hotline.storage.reference import Department

PREFIX = "hk"


@dataclass(frozen=True)
class KeyOwner:
    kind: str  # department | platform
    department: str | None
    platform: str | None
    key_id: int


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_key(
    ctx: Context,
    *,
    department: str | None = None,
    platform: str | None = None,
    label: str | None = None,
) -> str:
    """Create a key and return it; it is never shown again."""
    if (department is None) == (platform is None):
        raise InvalidField("key", "give exactly one of --department or --platform")
    if platform is not None and not platform.strip():
        raise InvalidField("platform", "must not be empty")
    prefix = secrets.token_hex(6)
    key = f"{PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    async with ctx.db.sessions() as session, session.begin():
        if department is not None and await session.get(Department, department) is None:
            raise InvalidField("department", f"unknown department {department}")
        session.add(
            ApiKey(
                prefix=prefix,
                secret_hash=_hash(key),
                kind="department" if department else "platform",
                department_code=department,
                platform=platform.strip() if platform else None,
                label=label,
                created_at=ctx.clock.now(),
            )
        )
    return key


async def resolve_key(ctx: Context, key: str) -> KeyOwner | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX:
        return None
    async with ctx.db.sessions() as session:
        row = await session.scalar(
            select(ApiKey).where(ApiKey.prefix == parts[1], ApiKey.revoked_at.is_(None))
        )
    if row is None or not hmac.compare_digest(row.secret_hash, _hash(key)):
        return None
    return KeyOwner(row.kind, row.department_code, row.platform, row.id)
