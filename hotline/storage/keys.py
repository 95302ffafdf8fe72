"""API keys for departments and partner platforms (stored hashed; shown once at creation)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from hotline.storage.base import Base


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the key's public prefix, to find the row without comparing every hash
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    #: SHA-256 of the whole key (keys are long random tokens, so no slow hash is needed)
    secret_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(12))  # department | platform
    department_code: Mapped[str | None] = mapped_column(
        ForeignKey("departments.code"), index=True, default=None
    )
    platform: Mapped[str | None] = mapped_column(String(64), default=None)
    label: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
