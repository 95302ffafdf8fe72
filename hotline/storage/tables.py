"""Every table, imported in one place so Alembic and tests see the whole metadata."""

from hotline.storage.base import Base
from hotline.storage.citizens import Citizen, Contact
from hotline.storage.reference import Category, Department, Division
from hotline.storage.tickets import (
    Assignment,
    ExtensionRequest,
    ReturnRequest,
    Ticket,
    TicketEvent,
    TicketNumberSequence,
)
from hotline.storage.users import User

metadata = Base.metadata

__all__ = [
    "Assignment",
    "Base",
    "Category",
    "Citizen",
    "Contact",
    "Department",
    "Division",
    "ExtensionRequest",
    "ReturnRequest",
    "Ticket",
    "TicketEvent",
    "TicketNumberSequence",
    "User",
    "metadata",
]
