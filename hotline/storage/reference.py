"""Reference data: divisions (属地), handling units (承办单位) and categories (诉求分类)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from hotline.storage.base import Base, JSONType


class Division(Base):
    """A county-level unit (GB/T 2260 code) or a street/town inside one."""

    __tablename__ = "divisions"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(16))  # county | street
    parent_code: Mapped[str | None] = mapped_column(
        ForeignKey("divisions.code"), index=True, default=None
    )
    urban: Mapped[bool] = mapped_column(Boolean, default=False)
    aliases: Mapped[list[Any]] = mapped_column(JSONType, default=list)


class Department(Base):
    """A handling unit: city department, utility, county-level or street/town government."""

    __tablename__ = "departments"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(16))  # city | county | street
    kind: Mapped[str] = mapped_column(String(16))  # department | utility | government
    parent_code: Mapped[str | None] = mapped_column(
        ForeignKey("departments.code"), index=True, default=None
    )
    division_code: Mapped[str | None] = mapped_column(
        ForeignKey("divisions.code"), index=True, default=None
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: where deadline notices and new tickets are posted (signed with HMAC-SHA256)
    webhook_url: Mapped[str | None] = mapped_column(String(500), default=None)
    webhook_secret: Mapped[str | None] = mapped_column(String(128), default=None)


class Category(Base):
    """诉求分类 with its routing mode (duty / territory / urban) and default unit."""

    __tablename__ = "categories"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(16))
    department_code: Mapped[str | None] = mapped_column(
        ForeignKey("departments.code"), default=None
    )
    #: may a county-level government re-dispatch (分派) it to its streets and towns?
    push_down: Mapped[bool] = mapped_column(Boolean, default=True)
