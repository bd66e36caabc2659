"""GET /: version discovery, open to everyone (no token needed).

From 1.15 it carries ``cache-control: no-cache`` and a ``last-modified`` of now, like every
other GET: the answer describes the running server, which may change at any restart.
"""

from __future__ import annotations

from berth.api.http import Request, Response, cache_headers, json_response
from berth.api.microversion import MAX_VERSION, MIN_VERSION
from berth.api.state import AppState


def home(req: Request, st: AppState) -> Response:
    resp = json_response(
        {
            "versions": [
                {
                    "id": "v1.0",
                    "max_version": str(MAX_VERSION),
                    "min_version": str(MIN_VERSION),
                    "status": "CURRENT",
                    "links": [{"rel": "self", "href": ""}],
                }
            ]
        }
    )
    return cache_headers(req, resp, None)
