"""GET /: version discovery, open to everyone (no token needed)."""

from __future__ import annotations

from berth.api.http import Request, Response, json_response
from berth.api.microversion import MAX_VERSION, MIN_VERSION
from berth.api.state import AppState


def home(req: Request, st: AppState) -> Response:
    return json_response(
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
