"""Turn a placement_bench JSON document into the README's markdown performance table.

    .venv/bin/python bench/report_table.py results.json

One column pair per size (Placement | berth, with the ratio), rows for every read's p50,
the floor (``GET /`` and berth's in-process selection), claims/s per client count with
409s, the load rate, worker memory and the audit. Sizes measured for berth alone show
berth's numbers only. Nothing is computed that the document doesn't hold.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

DASH = "\u2013"  # an en dash for "not measured"
TIMES = "\u00d7"  # the multiplication sign of "35x"

READS = (
    ("ac_simple_limit10", "candidates, limit=10"),
    ("ac_simple_unlimited", "candidates, no limit"),
    ("ac_required_trait", "required trait"),
    ("ac_forbidden_trait", "forbidden trait (`!COMPUTE_STATUS_DISABLED`)"),
    ("ac_member_of", "member_of"),
    ("ac_granular_isolate", "granular, group_policy=isolate"),
    ("ac_same_subtree", "same_subtree"),
    ("rp_list_filtered", "`GET /resource_providers?resources=…&required=…`"),
)


def _num(value: Any, digits: int = 1) -> str:
    if not isinstance(value, int | float):
        return DASH
    if isinstance(value, int):
        return f"{value:,}"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _ratio(a: Any, b: Any) -> str:
    if not isinstance(a, int | float) or not isinstance(b, int | float) or not b:
        return DASH
    r = a / b
    return f"{r:,.0f}{TIMES}" if r >= 10 else f"{r:.1f}{TIMES}"


def _cells(p: dict[str, Any] | None, b: dict[str, Any] | None, get: Any,
           higher_better: bool = False) -> list[str]:
    pv = get(p) if p else None
    bv = get(b) if b else None
    ratio = _ratio(bv, pv) if higher_better else _ratio(pv, bv)
    return [_num(pv), _num(bv), ratio if p and b else ""]


def table(doc: dict[str, Any]) -> str:
    sizes = list(doc["sizes"].items())
    head = ["| |"]
    sub = ["| --- |"]
    for key, size in sizes:
        label = f"{size['nodes']:,} nodes" + (" (berth only)" if "berth-only" in key else "")
        head.append(f" {label}: Placement | berth | ratio |")
        sub.append(" ---: | ---: | ---: |")
    lines = ["".join(head), "".join(sub)]

    def row(title: str, get: Any, higher_better: bool = False) -> None:
        cells = [title]
        for _, size in sizes:
            systems = size["systems"]
            cells += _cells(systems.get("placement"), systems.get("berth"), get, higher_better)
        lines.append("| " + " | ".join(cells) + " |")

    for name, title in READS:
        row(f"{title}, p50 ms", lambda s, n=name: s["reads"].get(n, {}).get("p50_ms"))
    row("`GET /` (floor), p50 ms", lambda s: s["root"]["p50_ms"])
    row(
        "berth in-process selection, limit=10, p50 ms",
        lambda s: s.get("engine_floor", {}).get("ac_simple_limit10", {})
        .get("selection", {}).get("p50_ms"),
    )
    for clients in ("1", "4", "16"):
        row(f"claims/s, {clients} client(s)",
            lambda s, c=clients: s["claims"].get(c, {}).get("claims_per_s"), True)
    row("load through the API, providers/s", lambda s: s["load"]["providers_per_s"], True)
    row("worker RSS after reads, MiB (sum of 2)",
        lambda s: s["memory_after_reads"].get("workers_rss_mb_total"))
    row("audit: overcommitted providers",
        lambda s: s.get("consistency", {}).get("overcommit"))
    row("audit: usage ≠ sum of allocations",
        lambda s: s.get("consistency", {}).get("usage_vs_allocations_mismatch"))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("document", type=Path)
    args = parser.parse_args()
    print(table(json.loads(args.document.read_text())))


if __name__ == "__main__":
    main()
