"""The floor under berth's GET /allocation_candidates: the same work without HTTP.

For one query string this does what the handler does, step by step and timed: parse the
query (``berth.api.candidate_params.parse``), take one consistent snapshot
(``berth.db.snapshot``: unknown-name check + ``load``), run the engine
(``berth.query.candidates.find``), and render + serialize the JSON answer. The gap
between ``selection`` (snapshot + find) and the HTTP p50 is what the server around the
engine costs.

The main benchmark runs this file as a separate process (``engine_floor``), so the timing
is not disturbed by the benchmark's own heap and event loop; the function is importable
for tests.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bench_http import JsonObject, latency_summary

ENTRY_POINTS = (
    "berth.api.candidate_params.parse, berth.query.resident (warm; refresh + find), "
    "berth.api.handlers.allocation_candidates.render"
)


def berth_inprocess_selection(
    database_url: str, url: str, count: int = 50, seconds: float = 15.0
) -> JsonObject:
    """Time parse, selection (refresh from the change log + engine) and render for ``url``.

    Uses the same per-process resident index the server answers from, warmed first, so
    "selection" is what one request costs the server besides HTTP and rendering. Imports
    berth lazily so the benchmark still runs (and reports why) when entry points change.
    """
    try:
        from berth.api.candidate_params import parse
        from berth.api.handlers.allocation_candidates import render
        from berth.api.microversion import Version
        from berth.db.engine import Store
        from berth.query import resident
    except ImportError as exc:
        return {"error": f"berth engine entry points not importable: {exc}"}
    query = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    version = Version(1, 39)
    store: Any = Store.from_url(database_url)
    index = resident.for_store(store)
    index.warm()
    timings: dict[str, list[float]] = {k: [] for k in ("parse", "selection", "render", "total")}
    answer: JsonObject = {}

    def once() -> None:
        t0 = time.perf_counter()
        request = parse(query, version)
        t1 = time.perf_counter()
        found = index.answer(request)
        if found.result is None:
            raise ValueError(f"unknown names {found.unknown_classes} {found.unknown_traits}")
        t2 = time.perf_counter()
        body = json.dumps(render(found.result, request, version))
        t3 = time.perf_counter()
        for key, ms in (
            ("parse", t1 - t0),
            ("selection", t2 - t1),
            ("render", t3 - t2),
            ("total", t3 - t0),
        ):
            timings[key].append(ms * 1000.0)
        answer.update(
            allocation_requests=len(found.result.allocation_requests),
            bytes=len(body),
        )

    try:
        once()  # warm-up: connection pool, statement caches
        for values in timings.values():
            values.clear()
        deadline = time.perf_counter() + seconds
        while len(timings["total"]) < count and time.perf_counter() < deadline:
            once()
    except Exception as exc:  # report, never abort the whole benchmark run
        return {"url": url, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        store.dispose()
    return {
        "url": url,
        "entry_points": ENTRY_POINTS,
        **{key: latency_summary(values) for key, values in timings.items()},
        "answer": answer,
    }


def engine_floor(database_url: str, url: str, count: int, seconds: float) -> JsonObject:
    """``berth_inprocess_selection`` in a fresh process (the interpreter running this)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), database_url, url]
    cmd += ["--count", str(count), "--seconds", str(seconds)]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=seconds + 300, check=False
        )
    except subprocess.TimeoutExpired:
        return {"url": url, "error": "engine floor process timed out"}
    if done.returncode != 0:
        return {"url": url, "error": done.stderr.strip()[-2000:]}
    result: JsonObject = json.loads(done.stdout)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description="time berth's candidate engine in-process")
    ap.add_argument("database_url")
    ap.add_argument("url", help="/allocation_candidates?... as sent over HTTP")
    ap.add_argument("--count", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=15.0)
    a = ap.parse_args()
    print(json.dumps(berth_inprocess_selection(a.database_url, a.url, a.count, a.seconds)))


if __name__ == "__main__":
    main()
