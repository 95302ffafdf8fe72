"""Log configuration: the scheduler's per-run chatter stays out of production logs."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from hotline.config import LoggingConfig
from hotline.logs import configure_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    scheduler = logging.getLogger("apscheduler")
    scheduler_level = scheduler.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    scheduler.setLevel(scheduler_level)


def test_scheduler_runs_are_not_logged_at_info() -> None:
    configure_logging(LoggingConfig(level="INFO", format="json"))
    job_log = logging.getLogger("apscheduler.executors.default")
    assert not job_log.isEnabledFor(logging.INFO)
    assert job_log.isEnabledFor(logging.WARNING)  # missed runs still show
    assert logging.getLogger("hotline.http").isEnabledFor(logging.INFO)


def test_debug_shows_everything() -> None:
    logging.getLogger("apscheduler").setLevel(logging.NOTSET)
    configure_logging(LoggingConfig(level="DEBUG", format="console"))
    assert logging.getLogger("apscheduler.executors.default").isEnabledFor(logging.DEBUG)
