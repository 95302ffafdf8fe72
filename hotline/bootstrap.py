"""Wiring: settings → database, calendar, clock, reference cache → a services Context."""

from __future__ import annotations

import functools
from collections.abc import Callable

from channels.notify import install as install_channel_hooks
from dispatch import escalation
from hotline.calendar import WorkingCalendar
from hotline.clock import Clock, SystemClock
from hotline.config import HotlineConfig, Settings
from hotline.services import ratings
from hotline.services.context import Context
from hotline.services.live import install as install_live_events
from hotline.services.reference import ReferenceCache
from hotline.storage.db import Database, create_database
from ivr.hooks import CALL_LINKS


def build_calendar(
    config: HotlineConfig, *, on_fallback: Callable[[int], None] | None = None
) -> WorkingCalendar:
    return WorkingCalendar(
        config.calendar.holidays, config.calendar.workdays, on_fallback=on_fallback
    )


def bootstrap(
    settings: Settings, *, clock: Clock | None = None, db: Database | None = None
) -> Context:
    database = db or create_database(
        settings.database_url,
        echo=settings.config.database.echo,
        pool_size=settings.config.database.pool_size,
        write_thread=settings.config.database.write_thread,
        write_on_loop=settings.config.database.write_on_loop,
    )
    ctx = Context(
        settings=settings,
        db=database,
        clock=clock or SystemClock(),
        calendar=build_calendar(settings.config),
        reference=ReferenceCache(database),
    )
    ctx.hooks.on_intake.append(CALL_LINKS)
    policy = settings.config.escalation
    ctx.first_look = lambda a: escalation.first_look(
        escalation.Clock(a.status, a.sign_due_at, a.due_at), policy
    )
    install_channel_hooks(ctx)
    # After the channel notices, so the reply reaches the citizen before the invitation.
    ctx.hooks.on_event.append(functools.partial(ratings.on_reply, ctx))
    install_live_events(ctx)
    return ctx
