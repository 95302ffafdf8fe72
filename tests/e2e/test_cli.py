"""The ``hotline`` command, run as a user runs it (a subprocess)."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import PG_URL

HOTLINE = [sys.executable, "-m", "hotline.cli"]


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own command with fixed arguments
        [*HOTLINE, *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        ("2026-09-30", "5", "2026-10-13T23:59:59+08:00"),
        ("2026-02-12T09:00", "5", "2026-02-26T23:59:59+08:00"),
        ("2026-11-26T10:00:00+08:00", "5", "2026-12-03T23:59:59+08:00"),
    ],
)
def test_calendar_deadline_prints_iso_in_shanghai(
    tmp_path: Path, start: str, days: str, expected: str
) -> None:
    result = run("calendar", "deadline", start, "--working-days", days, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected
    assert "warning" not in result.stderr


def test_calendar_deadline_into_2027_warns_on_stderr(tmp_path: Path) -> None:
    result = run("calendar", "deadline", "2026-12-28", "--working-days", "5", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == "2027-01-04T23:59:59+08:00"
    assert "warning" in result.stderr and "2027" in result.stderr
    assert result.stderr.count("2027;") == 1  # said once, not again by the log


def test_calendar_deadline_rejects_bad_input(tmp_path: Path) -> None:
    bad = run("calendar", "deadline", "next tuesday", "--working-days", "5", cwd=tmp_path)
    assert bad.returncode == 2 and "START" in bad.stderr
    negative = run("calendar", "deadline", "2026-11-26", "--working-days", "-1", cwd=tmp_path)
    assert negative.returncode == 2


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("time_limits:\n  max_extensions: many\n", encoding="utf-8")
    result = run("calendar", "deadline", "2026-11-26", "--working-days", "1", cwd=tmp_path)
    assert result.returncode == 2
    assert "time_limits.max_extensions" in result.stderr
    assert "config.yaml" in result.stderr


@pytest.mark.skipif(PG_URL is not None, reason="uses a private SQLite file")
def test_db_upgrade_seed_and_users_on_a_fresh_directory(tmp_path: Path) -> None:
    upgraded = run("db", "upgrade", cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    assert (tmp_path / "hotline.db").exists()  # the embedded default in the working directory
    first = run("seed", "--demo", cwd=tmp_path)
    second = run("seed", "--demo", cwd=tmp_path)
    assert first.returncode == second.returncode == 0
    assert "users_created=7" in first.stdout
    assert "users_created=0" in second.stdout
    with sqlite3.connect(tmp_path / "hotline.db") as db:  # the 派单目录, stored once
        assert db.execute("SELECT count(*) FROM routing_catalogues").fetchone() == (1,)
    added = run(
        "users",
        "add",
        "zhang",
        "--role",
        "department",
        "--department",
        "GSGS",
        cwd=tmp_path,
        stdin="a-long-password\n",
    )
    assert added.returncode == 0, added.stderr
    again = run("users", "add", "zhang", "--role", "agent", cwd=tmp_path, stdin="another-pass\n")
    assert again.returncode == 1 and "exists" in again.stderr
    short = run("users", "add", "li", "--role", "agent", cwd=tmp_path, stdin="short\n")
    assert short.returncode == 1 and "password" in short.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.skipif(PG_URL is not None, reason="uses a private SQLite file")
def test_serve_upgrades_and_answers(tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(  # noqa: S603
            [*HOTLINE, "serve", "--port", str(port)],
            cwd=tmp_path,
            env={**os.environ, "HOTLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        body = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz") as r:
                    body = json.loads(r.read())
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.2)
        assert body is not None, log.read_text()
        assert body["database"] == "ok"
        assert (tmp_path / "x.db").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
