"""Stoplight Prism serving Twilio's own OpenAPI description (../shared/twilio), for tests that
drive the real ``twilio`` client. Skips, with the reason, where the spec or npm is absent."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PRISM_VERSION = "5.14.2"


def twilio_spec() -> Path | None:
    candidates = [REPO.parent / "shared" / "twilio" / "twilio_api_v2010.json"]
    if os.environ.get("HOTLINE_SHARED_DIR"):
        candidates.insert(
            0, Path(os.environ["HOTLINE_SHARED_DIR"]) / "twilio" / "twilio_api_v2010.json"
        )
    candidates.append(Path("/work/shared/twilio/twilio_api_v2010.json"))
    return next((p for p in candidates if p.is_file()), None)


def prism_binary() -> Path | None:
    home = Path(os.environ.get("PRISM_DIR", Path.home() / ".cache" / "hotline-prism"))
    binary = home / "node_modules" / ".bin" / "prism"
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None:
        return None
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run(  # noqa: S603 - fixed command, pinned version
        [
            npm,
            "install",
            "--silent",
            "--prefix",
            str(home),
            f"@stoplight/prism-cli@{PRISM_VERSION}",
        ],
        check=False,
        capture_output=True,
        timeout=300,
    )
    return binary if binary.exists() else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_prism() -> Iterator[str]:
    spec = twilio_spec()
    if spec is None:
        pytest.skip("Twilio's OpenAPI description (../shared/twilio) is not here")
    binary = prism_binary()
    if binary is None:
        pytest.skip("Prism is not installed and npm is not available to install it")
    port = _free_port()
    log = open(os.devnull, "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(  # noqa: S603
        [str(binary), "mock", "-h", "127.0.0.1", "-p", str(port), str(spec)],
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/2010-04-01/Accounts.json", timeout=1)  # noqa: S310
                break
            except urllib.error.HTTPError:
                break  # Prism answers (401 without credentials): it is up
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("Prism did not start")
                time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
