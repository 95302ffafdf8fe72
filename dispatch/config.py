"""The routing engine's config (``routing:`` in config.yaml)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from hotline.configbase import Section
from hotline.domain.vocabulary import Channel


class RoutingConfig(Section):
    #: route tickets from text channels as they arrive (an agent routes phone calls)
    auto_dispatch: bool = True
    #: below this confidence a ticket waits in the triage queue for an agent
    min_confidence: float = Field(default=0.8, ge=0, le=1)
    #: channels whose tickets the engine routes on its own
    channels: list[Channel] = [
        Channel.SMS,
        Channel.WECHAT,
        Channel.MAILBOX,
        Channel.PLATFORM,
        Channel.APP,
        Channel.WEIBO,
    ]
    #: extra catalogue rules over the taxonomy's defaults (see docs/routing.md, "Catalogue")
    rules: list[dict[str, Any]] = []
    #: an edited lexicon (YAML, the format of dispatch/data/lexicon.yaml); null: packaged
    lexicon: str | None = None
    #: seconds between sweeps of newly received text-channel tickets
    sweep_seconds: float = Field(default=2.0, gt=0, le=300)


class EscalationConfig(Section):
    """Reminders, 催办 and 督办: when the scheduler speaks to a unit about its clock."""

    #: remind the unit this many clock hours before the due time (0: no reminder)
    remind_before_hours: int = Field(default=24, ge=0, le=24 * 10)
    #: tell the unit when the sign-for time passes unsigned
    sign_overdue: bool = True
    #: 催办 when the due time passes without a reply
    overdue: bool = True
    #: 督办 levels: hours after the due time (each raises the ticket's supervision level)
    escalate_after_hours: list[int] = [24, 72]
    #: seconds between sweeps
    sweep_seconds: float = Field(default=30, gt=0, le=3600)


class HotspotConfig(Section):
    """第五十条第三款: matters citizens report together and again are studied specially."""

    #: this many reports (tickets and their repeats) ...
    min_reports: int = Field(default=5, ge=2, le=1000)
    #: ... within this many days ...
    days: int = Field(default=7, ge=1, le=90)
    #: ... of one category at one street (true) or one county-level unit (false)
    by_street: bool = True
    #: minutes between refreshes
    sweep_minutes: float = Field(default=10, gt=0, le=1440)
