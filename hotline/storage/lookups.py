"""Failed public lookups (ticket number + query code), kept for the throttling window."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from hotline.storage.base import Base


class LookupFailure(Base):
    """One failed lookup by query code from a client address. In the database, so that every
    instance sees the same count: several instances give an address no more tries than one."""

    __tablename__ = "public_lookup_failures"
    __table_args__ = (Index("ix_public_lookup_failures_client_at", "client", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client: Mapped[str] = mapped_column(String(64))
    #: housekeeping deletes what has left the window, by this index
    at: Mapped[datetime] = mapped_column(index=True)
