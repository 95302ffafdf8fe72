"""``reports:`` in config.yaml: where scheduled 社情民意 reports go, what they hold, and how the
units' annual ranking (条例第五十一条) weighs the indicators."""

from __future__ import annotations

from datetime import time

from pydantic import Field, field_validator

from hotline.configbase import Section

#: the indicators a unit's ranking may weigh (see hotline.reports.indicators)
RANKED = ("on_time", "sign_on_time", "satisfaction", "extension", "return", "reopen")


class RankingConfig(Section):
    """A unit's score is 100 × the weighted mean of its indicators (the lower-is-better ones
    as 1 − rate), less ``flag_penalty`` points per mark on its record (a false reply, ...)."""

    weights: dict[str, float] = {
        "on_time": 0.35,
        "satisfaction": 0.30,
        "sign_on_time": 0.10,
        "return": 0.10,
        "reopen": 0.10,
        "extension": 0.05,
    }
    flag_penalty: float = Field(default=2.0, ge=0, le=100)
    #: a unit with fewer assignments in the year is listed but not ranked
    min_assignments: int = Field(default=5, ge=1)

    @field_validator("weights")
    @classmethod
    def _known(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(RANKED))
        if unknown:
            raise ValueError(f"unknown indicators {unknown}; use {list(RANKED)}")
        if any(w < 0 for w in value.values()) or not any(w > 0 for w in value.values()):
            raise ValueError("weights must be non-negative and not all zero")
        return value


class ReportsConfig(Section):
    #: where scheduled reports are written, one folder per period (2026-11-26, 2026-W48,
    #: 2026-11); relative to the config file's folder (else the working directory)
    output_dir: str = "reports"
    #: which reports the scheduler writes once their period is over
    daily: bool = True
    weekly: bool = True
    monthly: bool = True
    #: the time of day (Asia/Shanghai) the scheduler writes the reports due
    run_at: time = time(1, 30)
    #: a call counts as answered in time within this many seconds of joining the queue
    answer_seconds: int = Field(default=15, ge=1, le=600)
    #: how many keywords (citizens' own words) the report lists
    keywords: int = Field(default=20, ge=1, le=100)
    #: at most this many rows in each list (overdue tickets, bad ratings, hotspots)
    list_limit: int = Field(default=50, ge=1, le=1000)
    ranking: RankingConfig = RankingConfig()
