"""The services' dependencies, built once by :func:`hotline.bootstrap.bootstrap`."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from hotline.calendar import WorkingCalendar
from hotline.clock import Clock
from hotline.config import HotlineConfig, Settings
from hotline.domain.lifecycle import AssignmentState
from hotline.services.hooks import Hooks
from hotline.services.reference import ReferenceCache
from hotline.storage.db import Database

#: when the deadline scheduler should first look at an assignment's clock (see dispatch)
FirstLook = Callable[[AssignmentState], datetime | None]


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass(eq=False)  # hashed by identity: per-context helpers hang off it
class Context:
    settings: Settings
    db: Database
    clock: Clock
    calendar: WorkingCalendar
    reference: ReferenceCache
    ids: Callable[[], str] = field(default=new_id)
    hooks: Hooks = field(default_factory=Hooks)
    first_look: FirstLook | None = None

    @property
    def config(self) -> HotlineConfig:
        return self.settings.config
