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
