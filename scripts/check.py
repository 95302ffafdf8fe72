#!/usr/bin/env python3
"""The one check: ruff (lint and format), mypy, then the whole pytest suite (warnings are errors).

    python scripts/check.py            # everything, on SQLite
    python scripts/check.py --tests-only -x tests/unit

Extra arguments go to pytest. With HOTLINE_TEST_DATABASE_URL set, the database tests run on
that PostgreSQL database instead. pytest's exit code 5 (no tests collected) is a failure here:
a suite that runs nothing must not pass.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def step(name: str, *cmd: str) -> int:
    print(f"==> {name}: {' '.join(cmd)}", flush=True)
    return subprocess.call(cmd, cwd=ROOT)  # noqa: S603 - fixed commands


def main(argv: list[str]) -> int:
    tests_only = "--tests-only" in argv
    pytest_args = [a for a in argv if a != "--tests-only"]
    if not tests_only:
        for name, cmd in (
            ("lint", [PY, "-m", "ruff", "check", "."]),
            ("format", [PY, "-m", "ruff", "format", "--check", "."]),
            ("types", [PY, "-m", "mypy"]),
        ):
            if step(name, *cmd) != 0:
                print(f"check failed at: {name}", file=sys.stderr)
                return 1
    where = os.environ.get("HOTLINE_TEST_DATABASE_URL") or "SQLite"
    code = step(f"tests ({where})", PY, "-m", "pytest", *pytest_args)
    if code == 5:
        print("pytest collected no tests: treating as a failure", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
