"""Hotspots: the same issue at the same place reported again and again (第五十条第三款)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hotline.storage.base import Base, JSONType


class Hotspot(Base):
    """A cluster flagged for special study; refreshed while reports keep coming."""

    __tablename__ = "hotspots"
    __table_args__ = (UniqueConstraint("category_code", "division_code", "place", "first_seen"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    category_code: Mapped[str] = mapped_column(ForeignKey("categories.code"))
    division_code: Mapped[str] = mapped_column(ForeignKey("divisions.code"))
    #: the street code, or "" when the cluster is the whole county-level unit
    place: Mapped[str] = mapped_column(String(40))
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    reports: Mapped[int] = mapped_column(Integer)
    ticket_numbers: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    flagged_at: Mapped[datetime]
    #: open | studied
    status: Mapped[str] = mapped_column(String(8), index=True)
    note: Mapped[str | None] = mapped_column(Text, default=None)
