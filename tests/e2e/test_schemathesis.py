"""Schemathesis against the live server over its own OpenAPI document: no 5xx, and every
response (status, content type, body) as documented.

A real ``hotline serve`` on a seeded SQLite file; property-based requests for every operation
of ``/api/v1``, with the admin token (department-only operations answer 403 to it, which is
documented too).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PG_URL

TOKEN = "schemathesis-admin-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if PG_URL:
        pytest.skip("runs once, on its own SQLite server (the PostgreSQL run covers the rest)")
    tmp = tmp_path_factory.mktemp("schemathesis")
    (tmp / "config.yaml").write_text(
        "logging: {level: WARNING}\nrouting: {auto_dispatch: false}\n", encoding="utf-8"
    )
    env = {
        **os.environ,
        "HOTLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'api.db'}",
        "HOTLINE_ADMIN_TOKEN": TOKEN,
        "HOTLINE_CONFIG": str(tmp / "config.yaml"),
    }
    subprocess.run(
        [sys.executable, "-m", "hotline.cli", "seed", "--demo"],
        cwd=tmp,
        env=env,
        check=True,
        capture_output=True,
    )
    port = _free_port()
    log = (tmp / "server.log").open("w")
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "hotline.cli", "serve", "--port", str(port)],
        cwd=tmp,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=1)  # noqa: S310
                break
            except (urllib.error.URLError, OSError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"server did not start: {(tmp / 'server.log').read_text()}")
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
        errors = [
            line
            for line in (tmp / "server.log").read_text().splitlines()
            if "unhandled error" in line
        ]
        assert not errors, "\n".join(errors)


CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)


def test_the_api_keeps_its_documented_promises(live_server: str, tmp_path: Path) -> None:
    """Schemathesis's own runner (its CLI), every /api/v1 operation, positive and negative
    inputs; any 5xx or undocumented response fails the run."""
    st = Path(sys.executable).with_name("st")
    if not st.exists():
        pytest.skip("schemathesis is not installed (pip install -e '.[test]')")
    result = subprocess.run(  # noqa: S603
        [
            str(st),
            "run",
            f"{live_server}/api/v1/openapi.yaml",
            "--url",
            live_server,
            "--header",
            f"Authorization: Bearer {TOKEN}",
            "--checks",
            CHECKS,
            "--max-examples",
            "20",
            "--phases",
            "examples,coverage,fuzzing",
            "--generation-deterministic",
            "--no-color",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_the_document_is_the_one_served(live_server: str) -> None:
    served = urllib.request.urlopen(f"{live_server}/api/v1/openapi.yaml").read()  # noqa: S310
    packaged = Path(__file__).resolve().parents[2] / "hotline" / "web" / "openapi.yaml"
    assert served == packaged.read_bytes()
