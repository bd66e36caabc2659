"""The WSGI application: one pass from HTTP to a handler and back.

The order of steps is Placement's middleware order, because it decides which error a
client sees when several apply:

1. request id (on every response, errors included);
2. CORS, wrapped around everything below (a preflight answers 200 whatever happened);
3. auth (401 before anything else; ``/`` is open), then the microversion (400/406);
4. body framing (Content-Length must be an integer, a body needs a Content-Type; 413),
   route (404), method (405 with ``Allow``), microversion of the route (404/405),
   ``Accept`` (406), then the handler.

Errors from step 4 carry the negotiated microversion headers; all errors are rendered in
Placement's format (JSON ``{"errors": [...]}`` unless the client prefers HTML or text).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from berth.api import accept, cors, errors, microversion, routes
from berth.api.auth import noauth_context
from berth.api.http import MAX_BODY_BYTES, Request, Response, header_list
from berth.api.state import AppState
from berth.model.errors import ConflictError, DomainError, InvalidError, NotFoundError

LOG = logging.getLogger(__name__)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _domain_to_http(exc: DomainError) -> errors.HTTPError:
    if isinstance(exc, NotFoundError):
        return errors.NotFound(exc.message, code=exc.code)
    if isinstance(exc, ConflictError):
        return errors.Conflict(exc.message, code=exc.code)
    if isinstance(exc, InvalidError):
        return errors.BadRequest(exc.message, code=exc.code)
    return errors.BadRequest(exc.message, code=exc.code)


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
        start_response(f"{resp.status} {_reason(resp.status)}", headers)
        return [resp.body] if resp.status != 204 else []

    def handle(self, req: Request) -> Response:
        """Serve one request: the whole pipeline, CORS outermost."""
        return self.cors.apply(req, self._serve(req))

    def _serve(self, req: Request) -> Response:
        try:
            if req.path != "/" and self.state.config.auth == "noauth":
                req.context = noauth_context(req)
            req.version = microversion.negotiate(req.headers)
        except errors.HTTPError as exc:
            # No version was negotiated: no version headers, no error code.
            return self._error(req, exc)
        try:
            resp = self._dispatch(req)
        except errors.HTTPError as exc:
            resp = self._error(req, exc)
        except DomainError as exc:
            resp = self._error(req, _domain_to_http(exc))
        except Exception:  # the one place a bug becomes a 500, never a traceback to clients
            LOG.exception("unexpected error serving %s %s", req.method, req.path)
            resp = self._error(req, errors.HTTPError())
        self._version_headers(req, resp)
        return resp

    def _dispatch(self, req: Request) -> Response:
        if req.path_error:
            raise errors.BadRequest(req.path_error)
        length = req.content_length()
        if length is not None and length > MAX_BODY_BYTES:
            raise errors.PayloadTooLarge(f"Request body larger than {MAX_BODY_BYTES} bytes")
        if length and not req.headers.get("content-type"):
            raise errors.BadRequest("content-type header required when content-length > 0")
        found = routes.match(req.path)
        if found is None:
            raise errors.NotFound()
        declared, params = found
        route = next((r for r in declared if r.method == req.method), None)
        if route is None:
            raise errors.MethodNotAllowed(
                f"The method {req.method} is not allowed for this resource.",
                headers=[("Allow", ", ".join(r.method for r in declared))],
            )
        if req.version < route.since:
            raise errors.HTTPError(status=route.early_status)
        req.path_params = params
        if route.json_only and req.method == "GET":
            wanted = req.headers.get("accept")
            if accept.is_explicit(wanted) and not accept.acceptable(wanted, ("application/json",)):
                raise errors.NotAcceptable("Only application/json is provided")
        req.query  # noqa: B018 - a query string that is not UTF-8 is a 400 for every route
        return route.handler(req, self.state)

    def _error(self, req: Request, exc: errors.HTTPError) -> Response:
        ctype, body = errors.render(
            exc,
            request_id=req.request_id,
            accept=req.headers.get("accept"),
            with_code=req.version >= (1, 23),
        )
        return Response(status=exc.status, body=body, headers=list(exc.headers), content_type=ctype)

    @staticmethod
    def _version_headers(req: Request, resp: Response) -> None:
        # Lower-case, as Placement sends them: some clients compare the Vary value verbatim.
        name = microversion.HEADER.lower()
        resp.headers.append((name, f"{microversion.SERVICE_TYPE} {req.version}"))
        resp.headers.append(("vary", name))
