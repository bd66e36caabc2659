"""CORS, when an operator configures allowed origins (browser dashboards calling berth).

Behaves like oslo.middleware's CORS filter, which Placement wraps around its application
(outside auth and microversions):

* every ``OPTIONS`` request is a preflight: whatever the application answered (405, 401,
  ...) becomes an empty 200, which carries ``Access-Control-Allow-*`` headers only when the
  origin, the requested method and every requested header are allowed;
* any other request from an allowed origin gets ``Access-Control-Allow-Origin`` added.

Without configured origins nothing changes (``OPTIONS`` is then simply a 405).
"""

from __future__ import annotations

from berth.api.http import Request, Response

# Headers a browser may always send (oslo.middleware's "simple headers").
_SIMPLE_HEADERS = frozenset(
    {
        "accept",
        "accept-language",
        "content-type",
        "cache-control",
        "content-language",
        "expires",
        "last-modified",
        "pragma",
    }
)
_METHODS = frozenset({"OPTIONS", "GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "PATCH"})
MAX_AGE = 3600


def _add_vary(resp: Response, value: str) -> None:
    for i, (name, existing) in enumerate(resp.headers):
        if name.lower() == "vary":
            resp.headers[i] = (name, f"{existing},{value}")
            return
    resp.headers.append(("Vary", value))


class CorsPolicy:
    def __init__(self, origins: tuple[str, ...], allow_headers: tuple[str, ...]) -> None:
        self.origins = frozenset(origins)
        self.allow_headers = frozenset(h.strip().lower() for h in allow_headers)

    def _origin(self, req: Request) -> str | None:
        """The origin to allow for this request, or None (``*`` allows any)."""
        origin = req.headers.get("origin")
        if origin is None:
            return None
        if origin in self.origins:
            return origin
        return "*" if "*" in self.origins else None

    def apply(self, req: Request, resp: Response) -> Response:
        """Turn the application's response into the one the client sees."""
        if not self.origins:
            return resp
        if any(name.lower() == "access-control-allow-origin" for name, _ in resp.headers):
            return resp
        if req.method == "OPTIONS":
            return self._preflight(req, resp)
        origin = self._origin(req)
        if origin is not None:
            _add_vary(resp, "Origin")
            resp.header("Access-Control-Allow-Origin", origin)
            resp.header("Access-Control-Allow-Credentials", "true")
        return resp

    def _preflight(self, req: Request, resp: Response) -> Response:
        if not 200 <= resp.status < 300:
            resp = Response(status=200)
        origin = self._origin(req)
        method = req.headers.get("access-control-request-method")
        if origin is None or method is None or method not in _METHODS:
            return resp
        asked = req.headers.get("access-control-request-headers", "")
        wanted = [h.strip() for h in asked.split(",") if h.strip()]
        allowed = self.allow_headers | _SIMPLE_HEADERS
        if any(h.lower() not in allowed for h in wanted):
            return resp
        resp.headers = [(n, v) for n, v in resp.headers if n.lower() != "vary"]
        resp.header("Vary", "Origin")
        resp.header("Access-Control-Allow-Origin", origin)
        resp.header("Access-Control-Allow-Credentials", "true")
        resp.header("Access-Control-Max-Age", str(MAX_AGE))
        resp.header("Access-Control-Allow-Methods", method)
        if wanted:
            resp.header("Access-Control-Allow-Headers", ",".join(wanted))
        return resp
