"""Join two placement_bench documents measured in separate invocations, and add the ratios.

A full side-by-side run at 10,000 nodes spends most of its hour on Placement, so it is
sometimes run as ``--systems placement`` once and ``--systems berth`` later on the same
machine, seed and sizes. This joins them per size and computes the same ``ratios`` a single
run would; the output says plainly that the systems were measured in separate runs (each
with its own start time and load average) so nobody mistakes it for one run.

    .venv/bin/python bench/merge_runs.py placement.json berth.json --out merged.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench_http import JsonObject
from placement_bench import BERTH, PLACEMENT, ratios


def merge(docs: list[JsonObject]) -> JsonObject:
    seeds = {doc["meta"]["seed"] for doc in docs}
    if len(seeds) != 1:
        raise SystemExit(f"documents use different seeds: {sorted(seeds)}")
    out: JsonObject = {
        "meta": {
            "merged_from_separate_runs": [doc["meta"] for doc in docs],
            "seed": seeds.pop(),
        },
        "sizes": {},
    }
    for doc in docs:
        for key, size in doc["sizes"].items():
            target = out["sizes"].setdefault(
                key, {"nodes": size["nodes"], "cloud": size["cloud"], "systems": {}}
            )
            if target["cloud"] != size["cloud"]:
                raise SystemExit(f"size {key}: the two runs loaded different clouds")
            for system, result in size["systems"].items():
                if system in target["systems"]:
                    raise SystemExit(f"size {key}: {system} measured in both documents")
                target["systems"][system] = result
    for size in out["sizes"].values():
        systems = size["systems"]
        if PLACEMENT in systems and BERTH in systems:
            size["ratios"] = ratios(systems[PLACEMENT], systems[BERTH])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("documents", type=Path, nargs="+")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    merged = merge([json.loads(p.read_text()) for p in args.documents])
    text = json.dumps(merged, indent=2) + "\n"
    if args.out is not None:
        args.out.write_text(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
