"""``hotline seed --demo --history`` and ``hotline report``, run as a user runs them."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from hotline.calendar import SHANGHAI
from tests.conftest import PG_URL
from tests.e2e.test_cli import run


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    if PG_URL:
        pytest.skip("the CLI run uses its own SQLite file (the PostgreSQL run covers the rest)")
    (tmp_path / "config.yaml").write_text("logging: {level: WARNING}\n", encoding="utf-8")
    return {
        "HOTLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "HOTLINE_CONFIG": str(tmp_path / "config.yaml"),
    }


def test_seed_history_then_report(tmp_path: Path, env: dict[str, str]) -> None:
    seeded = run("seed", "--demo", "--history", "2d", cwd=tmp_path, env=env)
    assert seeded.returncode == 0, seeded.stderr
    assert "history: 2 days seeded" in seeded.stdout
    assert "history" in seeded.stderr  # the progress bar
    again = run("seed", "--demo", "--history", "2d", cwd=tmp_path, env=env)
    assert "0 days seeded, 2 skipped" in again.stdout

    yesterday = (datetime.now(SHANGHAI) - timedelta(days=1)).date().isoformat()
    out = tmp_path / "out"
    made = run("report", "--period", yesterday, "--out", str(out), cwd=tmp_path, env=env)
    assert made.returncode == 0, made.stderr
    assert "report" in made.stderr  # the progress bar
    for name in ("report.html", "report.pdf", "report.csv", "charts/trend.png"):
        assert (out / name).exists(), name
    rows = list(csv.DictReader(io.StringIO((out / "report.csv").read_text("utf-8-sig"))))
    (tickets,) = [r for r in rows if r["section"] == "summary" and r["key"] == "tickets"
                  and r["metric"] == "count"]  # fmt: skip
    assert int(tickets["value"]) > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "--period", "2026-13", "--out", "x"], "--period"),
        (["report", "--period", "last month", "--out", "x"], "--period"),
        (["seed", "--demo", "--history", "forever"], "--history"),
        (["seed", "--demo", "--history", "0d"], "--history"),
    ],
)
def test_bad_arguments_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
