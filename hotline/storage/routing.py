"""Routing catalogues (派单目录) in force over time, by version, as decisions recorded them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from hotline.storage.base import Base, JSONType


class RoutingCatalogue(Base):
    __tablename__ = "routing_catalogues"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    rules: Mapped[list[Any]] = mapped_column(JSONType)
    urban_divisions: Mapped[list[Any]] = mapped_column(JSONType)
    counties: Mapped[list[Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime]
