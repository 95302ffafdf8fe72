#!/usr/bin/env python3
"""Measure ``dispatch.routing.suggest`` on a labelled set (default: tests/data/routing-dev.jsonl).

    python scripts/eval_routing.py                 # accuracies, emergency recall/precision, misses
    python scripts/eval_routing.py --verbose       # also every suggestion's explanation
    python scripts/eval_routing.py --data other.jsonl

Each line is ``{"id", "text", "expect": {"kind", "type", "category", "division", "department",
"emergency"}}``; a field matches only when equal, null included (null means "cannot be told
from the text", so null is the right answer there). Always exits 0: it reports, it does not judge.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dispatch.gazetteer import Gazetteer  # noqa: E402 - after the path tweak for direct runs
from dispatch.routing import Catalogue, suggest  # noqa: E402

FIELDS = ("kind", "type", "category", "division", "department", "emergency")
DEFAULT_DATA = ROOT / "tests" / "data" / "routing-dev.jsonl"


@dataclass(frozen=True)
class Miss:
    id: str
    field: str
    expected: Any
    got: Any
    text: str


@dataclass(frozen=True)
class Report:
    total: int
    accuracy: dict[str, float]
    emergency_recall: float
    emergency_precision: float
    emergency_service_accuracy: float
    misses: tuple[Miss, ...]
    ms_per_text: float


def load(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def evaluate(
    examples: Sequence[dict[str, Any]],
    gazetteer: Gazetteer | None = None,
    catalogue: Catalogue | None = None,
    on_result: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
) -> Report:
    """Run ``suggest`` on every example and compare field by field."""
    gaz = gazetteer or Gazetteer.packaged()
    cat = catalogue or Catalogue.default()
    suggest("预热", gazetteer=gaz, catalogue=cat)  # load lexicons outside the timing
    correct = dict.fromkeys(FIELDS, 0)
    labelled = dict.fromkeys(FIELDS, 0)  # a set may leave a field unlabelled (no key at all)
    misses: list[Miss] = []
    true_em = flagged = flagged_right = service_right = 0
    elapsed = 0.0
    for ex in examples:
        start = time.perf_counter()
        got = suggest(ex["text"], ex.get("address"), gazetteer=gaz, catalogue=cat).to_json()
        elapsed += time.perf_counter() - start
        if on_result is not None:
            on_result(ex, got)
        expect = ex["expect"]
        for name in FIELDS:
            if name not in expect:
                continue
            labelled[name] += 1
            if got[name] == expect[name]:
                correct[name] += 1
            else:
                misses.append(Miss(ex["id"], name, expect.get(name), got[name], ex["text"]))
        is_em, said_em = expect["kind"] == "emergency", got["kind"] == "emergency"
        true_em += is_em
        flagged += said_em
        flagged_right += is_em and said_em
        service_right += is_em and said_em and got["emergency"] == expect["emergency"]
    total = len(examples)
    return Report(
        total=total,
        accuracy={name: correct[name] / labelled[name] for name in FIELDS if labelled[name]},
        emergency_recall=flagged_right / true_em if true_em else 1.0,
        emergency_precision=flagged_right / flagged if flagged else 1.0,
        emergency_service_accuracy=service_right / true_em if true_em else 1.0,
        misses=tuple(misses),
        ms_per_text=1000 * elapsed / total if total else 0.0,
    )


def format_report(report: Report) -> Iterable[str]:
    yield f"examples: {report.total}"
    yield ""
    yield "| measure | value |"
    yield "|---|---|"
    for name in FIELDS:
        if name in report.accuracy:
            yield f"| {name} accuracy | {report.accuracy[name]:.1%} |"
        else:
            yield f"| {name} accuracy | (not labelled) |"
    yield f"| emergency recall | {report.emergency_recall:.1%} |"
    yield f"| emergency precision | {report.emergency_precision:.1%} |"
    yield f"| emergency service (110/119/120) right | {report.emergency_service_accuracy:.1%} |"
    yield f"| time per suggest | {report.ms_per_text:.2f} ms |"
    yield ""
    yield f"misses ({len(report.misses)}):"
    for m in report.misses:
        yield f"  {m.id}  {m.field:<10} expected={m.expected!s:<12} got={m.got!s:<12} {m.text}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="labelled JSONL file")
    parser.add_argument("--verbose", action="store_true", help="print every explanation")
    args = parser.parse_args(argv)

    def show(ex: dict[str, Any], got: dict[str, Any]) -> None:
        print(f"{ex['id']} {json.dumps(got, ensure_ascii=False)}")

    report = evaluate(load(args.data), on_result=show if args.verbose else None)
    for line in format_report(report):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
