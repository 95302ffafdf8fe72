"""Every table, imported in one place so Alembic and tests see the whole metadata."""

from sqlalchemy import Table

from hotline.storage.attachments import Attachment
from hotline.storage.base import Base
from hotline.storage.calls import AgentState, Call, TransferAttempt
from hotline.storage.citizens import Citizen, Contact
from hotline.storage.console import ConsoleSession, LoginAttempt
from hotline.storage.evaluation import (
    BadRatingReview,
    Rating,
    RatingAppeal,
    RatingInvitation,
    ReturnVisit,
    UnitFlag,
)
from hotline.storage.hotspots import Hotspot
from hotline.storage.keys import ApiKey
from hotline.storage.knowledge import KbArticle, KbArticleVersion
from hotline.storage.lookups import LookupFailure
from hotline.storage.notices import DeadlineNotice
from hotline.storage.outbox import OutboxMessage
from hotline.storage.reference import Category, Department, Division
from hotline.storage.routing import RoutingCatalogue
from hotline.storage.tickets import (
    Assignment,
    ExtensionRequest,
    ReturnRequest,
    Ticket,
    TicketEvent,
    TicketNumberSequence,
)
from hotline.storage.users import User
from hotline.storage.webhooks import WebhookReply
from hotline.storage.wechat import WeChatUser

metadata = Base.metadata

# Typed Core tables for hot paths that insert with prebuilt statements.
TICKETS: Table = metadata.tables["tickets"]
TICKET_EVENTS: Table = metadata.tables["ticket_events"]
TICKET_NUMBER_SEQUENCES: Table = metadata.tables["ticket_number_sequences"]
CONTACTS: Table = metadata.tables["contacts"]
CITIZENS: Table = metadata.tables["citizens"]

__all__ = [
    "CITIZENS",
    "CONTACTS",
    "TICKETS",
    "TICKET_EVENTS",
    "TICKET_NUMBER_SEQUENCES",
    "AgentState",
    "ApiKey",
    "Assignment",
    "Attachment",
    "BadRatingReview",
    "Base",
    "Call",
    "Category",
    "Citizen",
    "ConsoleSession",
    "Contact",
    "DeadlineNotice",
    "Department",
    "Division",
    "ExtensionRequest",
    "Hotspot",
    "KbArticle",
    "KbArticleVersion",
    "LoginAttempt",
    "LookupFailure",
    "OutboxMessage",
    "Rating",
    "RatingAppeal",
    "RatingInvitation",
    "ReturnRequest",
    "ReturnVisit",
    "RoutingCatalogue",
    "Ticket",
    "TicketEvent",
    "TicketNumberSequence",
    "TransferAttempt",
    "UnitFlag",
    "User",
    "WeChatUser",
    "WebhookReply",
    "metadata",
]
