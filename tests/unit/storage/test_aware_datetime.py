"""``AwareDateTime`` on SQLite: the one-step bind processor stores what the two steps would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import TypeDecorator

from hotline.storage.base import AwareDateTime

SHANGHAI = timezone(timedelta(hours=8))


def two_steps(value: datetime | None) -> object:
    """``process_bind_param`` then SQLite's own ``DATETIME`` processor (TypeDecorator's way)."""
    dialect = sqlite.dialect()
    composed = TypeDecorator.bind_processor(AwareDateTime().dialect_impl(dialect), dialect)
    assert composed is not None
    return composed(value)


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),  # noqa: DTZ001 - made aware just below
        max_value=datetime(9999, 12, 30),  # noqa: DTZ001
        timezones=st.sampled_from([UTC, SHANGHAI, timezone(timedelta(hours=-5, minutes=-30))]),
    )
)
def test_sqlite_text_is_what_the_two_steps_give(value: datetime) -> None:
    dialect = sqlite.dialect()
    process = AwareDateTime()._cached_bind_processor(dialect)  # as statements get it
    assert process is not None
    assert process(value) == two_steps(value)


_aware = st.datetimes(
    min_value=datetime(1, 1, 2),  # noqa: DTZ001 - made aware just below
    max_value=datetime(9999, 12, 30),  # noqa: DTZ001
    timezones=st.sampled_from([UTC, SHANGHAI]),
)


@given(st.lists(_aware, min_size=1, max_size=6), st.lists(st.integers(0, 5), max_size=30))
def test_a_value_seen_again_gives_the_same_text(values: list[datetime], picks: list[int]) -> None:
    """The processor keeps the last value's text: repeats, alternations and equal values in
    other zones all come out as the two steps give them."""
    process = AwareDateTime()._cached_bind_processor(sqlite.dialect())
    assert process is not None
    for i in [0, 0, *picks]:
        value = values[i % len(values)]
        assert process(value) == two_steps(value)
        twin = value.astimezone(SHANGHAI)  # the same instant, another object
        assert process(twin) == two_steps(value)


def test_none_and_naive_values() -> None:
    process = AwareDateTime().bind_processor(sqlite.dialect())
    assert process is not None
    assert process(None) is None
    assert process(datetime(2026, 11, 26, 8, 0, tzinfo=SHANGHAI)) == "2026-11-26 00:00:00.000000"
    with pytest.raises(ValueError, match="naive"):
        process(datetime(2026, 11, 26, 8, 0))  # noqa: DTZ001 - the refused case


def test_postgresql_keeps_the_aware_value() -> None:
    process = AwareDateTime().bind_processor(postgresql.asyncpg.dialect())
    value = datetime(2026, 11, 26, 8, 0, tzinfo=SHANGHAI)
    out = process(value) if process else value
    assert out == value and out.tzinfo is UTC
