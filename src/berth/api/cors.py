"""CORS, when an operator configures allowed origins (browser dashboards calling berth).

Preflight ``OPTIONS`` requests from an allowed origin are answered before auth, as
oslo.middleware's CORS filter does in front of Placement; other requests from an allowed
origin get ``Access-Control-Allow-Origin`` on the way out.
"""

from __future__ import annotations

from berth.api.http import Request, Response

_SIMPLE_HEADERS = {
    "cache-control",
    "content-language",
    "content-type",
    "expires",
    "last-modified",
    "pragma",
}
_METHODS = ("GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS")


class CorsPolicy:
    def __init__(self, origins: tuple[str, ...], allow_headers: tuple[str, ...]) -> None:
        self.origins = frozenset(origins)
        self.allow_headers = frozenset(h.lower() for h in allow_headers)

    def preflight(self, req: Request) -> Response | None:
        if not self.origins or req.method != "OPTIONS":
            return None
        origin = req.headers.get("origin")
        asked_method = req.headers.get("access-control-request-method")
        if origin is None or asked_method is None:
            return None
        resp = Response(status=200)
        if origin not in self.origins or asked_method.upper() not in _METHODS:
            return resp
        asked = req.headers.get("access-control-request-headers", "")
        wanted = [h.strip().lower() for h in asked.split(",") if h.strip()]
        if any(h not in self.allow_headers and h not in _SIMPLE_HEADERS for h in wanted):
            return resp
        resp.header("Access-Control-Allow-Origin", origin)
        resp.header("Access-Control-Allow-Methods", asked_method.upper())
        if wanted:
            resp.header("Access-Control-Allow-Headers", ",".join(wanted))
        resp.header("Vary", "Origin")
        return resp

    def decorate(self, req: Request, resp: Response) -> None:
        origin = req.headers.get("origin")
        if not self.origins or origin is None or origin not in self.origins:
            return
        resp.header("Access-Control-Allow-Origin", origin)
        resp.header("Vary", "Origin")
