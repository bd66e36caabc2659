"""Markdown table of one or more ``bench_scheduler.py`` runs: the median of each number.

    .venv/bin/python bench/sched_table.py run1.json [run2.json ...]

Machines are noisy: several runs of the same command, one median per cell, and the
range, so a reader sees both the typical value and how much it moved. The audit row adds
up every run's violations (all must be 0).
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

from sched_audit import AUDIT_KEYS


def _cell(values: list[float], digits: int = 0) -> str:
    mid = statistics.median(values)
    if len(values) == 1:
        return f"{mid:,.{digits}f}"
    return f"{mid:,.{digits}f} ({min(values):,.{digits}f}-{max(values):,.{digits}f})"


def table(runs: list[dict[str, Any]]) -> str:
    phases = list(runs[0]["phases"])
    lines = [
        f"| request kind ({len(runs)} run(s): median (min-max)) | placements/s | "
        "p50 ms | p99 ms | statuses | unexplained answers |",
        "| --- | ---: | ---: | ---: | --- | ---: |",
    ]
    for name in phases:
        got = [r["phases"][name] for r in runs if name in r["phases"]]
        statuses: dict[str, int] = {}
        for g in got:
            for code, n in g["statuses"].items():
                statuses[code] = statuses.get(code, 0) + n
        lines.append(
            f"| {name} | {_cell([g['placements_per_s'] for g in got])} | "
            f"{_cell([g['latency_ms']['p50_ms'] for g in got], 1)} | "
            f"{_cell([g['latency_ms']['p99_ms'] for g in got], 1)} | "
            f"{', '.join(f'{k}: {v:,}' for k, v in sorted(statuses.items()))} | "
            f"{sum(g['unexplained_answers'] for g in got)} |"
        )
    bad = {k: sum(r["audit"][k] for r in runs) for k in AUDIT_KEYS}
    checked = sum(r["audit"]["providers_checked"] for r in runs)
    lines.append("")
    lines.append(
        f"Audit over {len(runs)} run(s), {checked:,} provider checks: "
        + ", ".join(f"{k} {v}" for k, v in bad.items())
    )
    return "\n".join(lines)


def main() -> int:
    runs = [json.loads(Path(p).read_text()) for p in sys.argv[1:]]
    if not runs:
        print(__doc__)
        return 2
    print(table(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
