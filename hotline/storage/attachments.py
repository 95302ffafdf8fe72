"""Files citizens attach (市长信箱), kept in the database with the ticket they belong to.

In the database rather than on disk: written in the transaction that creates the ticket (no
orphan files, no ticket missing its files), backed up and replicated with everything else, and
the same on SQLite and PostgreSQL. The mailbox caps their number and size (``channels.mailbox``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from hotline.storage.base import Base


class Attachment(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), default=None)
    filename: Mapped[str] = mapped_column(String(200))
    #: judged from the file's first bytes, not from what the browser said
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime]
