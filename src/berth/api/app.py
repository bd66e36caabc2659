"""The WSGI application: one pass from HTTP to a handler and back.

Order matters and follows Placement: request id → CORS → microversion → auth → route →
handler; any error on the way is rendered in Placement's JSON error format carrying the
negotiated microversion headers, so clients can always parse it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from berth.api import cors, errors, microversion, routes
from berth.api.auth import noauth_context
from berth.api.http import Request, Response, header_list
from berth.api.state import AppState
from berth.model.errors import ConflictError, DomainError, InvalidError, NotFoundError

LOG = logging.getLogger(__name__)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
}


def _domain_to_http(exc: DomainError) -> errors.HTTPError:
    if isinstance(exc, NotFoundError):
        return errors.NotFound(exc.message, code=exc.code)
    if isinstance(exc, ConflictError):
        return errors.Conflict(exc.message, code=exc.code)
    if isinstance(exc, InvalidError):
        return errors.BadRequest(exc.message, code=exc.code)
    return errors.BadRequest(exc.message, code=exc.code)


def _accepts_json(accept: str | None) -> bool:
    if not accept:
        return True
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if media in ("application/json", "application/*", "*/*"):
            return True
    return False


class PlacementApp:
    """A WSGI callable serving the Placement API from one ``AppState``."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.cors = cors.CorsPolicy(
            state.config.cors_allowed_origins, state.config.cors_allow_headers
        )

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request_id = f"req-{uuid.uuid4()}"
        req = Request.from_environ(environ, request_id)
        resp = self.handle(req)
        headers = list(header_list(resp))
        headers.append(("openstack-request-id", request_id))
        headers.append(("x-openstack-request-id", request_id))
        if resp.status != 204:
            headers.append(("Content-Length", str(len(resp.body))))
        reason = _REASONS.get(resp.status, "Unknown")
        start_response(f"{resp.status} {reason}", headers)
        return [resp.body] if resp.status != 204 else []

    def handle(self, req: Request) -> Response:
        preflight = self.cors.preflight(req)
        if preflight is not None:
            return preflight
        try:
            resp = self._dispatch(req)
        except errors.HTTPError as exc:
            resp = self._error(req, exc)
        except DomainError as exc:
            resp = self._error(req, _domain_to_http(exc))
        except Exception:  # the one place a bug becomes a 500, never a traceback to clients
            LOG.exception("unexpected error serving %s %s", req.method, req.path)
            resp = self._error(req, errors.HTTPError("An unexpected error occurred."))
        self._version_headers(req, resp)
        self.cors.decorate(req, resp)
        return resp

    def _dispatch(self, req: Request) -> Response:
        req.version = microversion.negotiate(req.headers)
        found = routes.match(req.path)
        if found is None:
            raise errors.NotFound("The resource could not be found.")
        candidates, params = found
        live = [r for r in candidates if req.version >= r.since]
        if not live:
            raise errors.NotFound("The resource could not be found.")
        route = next((r for r in live if r.method == req.method), None)
        if route is None:
            allow = ", ".join(r.method for r in live)
            raise errors.MethodNotAllowed(
                f"The method {req.method} is not allowed for this resource.",
                headers=[("Allow", allow)],
            )
        req.path_params = params
        if req.path != "/":
            if self.state.config.auth == "noauth":
                req.context = noauth_context(req)
            if not _accepts_json(req.headers.get("accept")):
                raise errors.NotAcceptable("Only application/json is provided")
        if (
            req.method in ("POST", "PUT", "PATCH")
            and self._has_body(req)
            and not req.headers.get("content-type")
        ):
            raise errors.BadRequest("content-type header required")
        return route.handler(req, self.state)

    @staticmethod
    def _has_body(req: Request) -> bool:
        length = req.headers.get("content-length", "")
        return bool(length) and length != "0"

    def _error(self, req: Request, exc: errors.HTTPError) -> Response:
        ctype, body = errors.render(
            exc,
            request_id=req.request_id,
            accept=req.headers.get("accept", ""),
            with_code=req.version >= (1, 23),
        )
        return Response(status=exc.status, body=body, headers=list(exc.headers), content_type=ctype)

    @staticmethod
    def _version_headers(req: Request, resp: Response) -> None:
        resp.headers.append((microversion.HEADER, f"{microversion.SERVICE_TYPE} {req.version}"))
        resp.headers.append(("Vary", microversion.HEADER))
