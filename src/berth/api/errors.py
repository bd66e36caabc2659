"""Placement's error model: HTTP errors with an error code, rendered as Placement renders them.

Placement answers every error with ``{"errors": [{status, title, detail, code, request_id}]}``
(``code`` from microversion 1.23 on). Clients such as Nova's report client branch on
``code`` (e.g. ``placement.concurrent_update`` means "refresh and retry"), so the codes are
part of the API contract and live here, in one place.
"""

from __future__ import annotations

import html
import json
from http import HTTPStatus

from berth.api.accept import error_format as accept_format
from berth.model.errors import UNDEFINED

# The first paragraph of an error's detail, as Placement (via WebOb) words it.
_EXPLANATIONS = {
    400: "The server could not comply with the request since it is either malformed "
    "or otherwise incorrect.",
    401: "This server could not verify that you are authorized to access the document "
    "you requested.",
    403: "Access was denied to this resource.",
    404: "The resource could not be found.",
    405: "The method specified is not allowed for this resource.",
    406: "The resource could not be generated that was acceptable to your browser "
    "(content of type application/json).",
    409: "There was a conflict when trying to complete your request.",
    413: "The request is larger than the server is willing or able to process.",
    415: "The request media type is not supported by this server.",
    500: "The server has either erred or is incapable of performing the requested operation.",
}


class HTTPError(Exception):
    """An error answered to the client. Raise it anywhere below the app; the app renders it."""

    status = 500

    def __init__(
        self,
        message: str = "",
        *,
        code: str = UNDEFINED,
        headers: list[tuple[str, str]] | None = None,
        status: int | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
        self.message = message
        self.code = code
        self.headers = headers or []
        # Further members of the error object (a 406 for an unknown microversion names
        # the supported range, so a client can pick one).
        self.extra = extra or {}

    @property
    def title(self) -> str:
        return HTTPStatus(self.status).phrase

    def detail(self) -> str:
        explanation = _EXPLANATIONS.get(self.status, "")
        if not self.message:
            return explanation
        return f"{explanation}\n\n {self.message}  "


class BadRequest(HTTPError):
    status = 400


class Unauthorized(HTTPError):
    status = 401


class Forbidden(HTTPError):
    status = 403


class NotFound(HTTPError):
    status = 404


class MethodNotAllowed(HTTPError):
    status = 405


class NotAcceptable(HTTPError):
    status = 406


class Conflict(HTTPError):
    status = 409


class PayloadTooLarge(HTTPError):
    status = 413


class UnsupportedMediaType(HTTPError):
    status = 415


def render(
    err: HTTPError, *, request_id: str, accept: str | None, with_code: bool
) -> tuple[str, bytes]:
    """Return (content type, body) for ``err``, in the format the client accepts.

    Like Placement: JSON unless the client prefers something else. A browser's
    ``Accept: text/html`` gets an HTML page; a client that accepts neither HTML nor JSON
    gets plain text (see ``berth.api.accept.error_format``).
    """
    media = accept_format(accept)
    status_line = f"{err.status} {err.title}"
    if media == "text/html":
        message = f"<br /><br />\n{html.escape(err.message)}\n" if err.message else ""
        body = (
            f"<html>\n <head>\n  <title>{html.escape(status_line)}</title>\n </head>\n"
            f" <body>\n  <h1>{html.escape(status_line)}</h1>\n"
            f"  {html.escape(_EXPLANATIONS.get(err.status, ''))}{message}\n"
            " </body>\n</html>"
        )
        return "text/html; charset=UTF-8", body.encode()
    if media == "text/plain":
        return "text/plain; charset=UTF-8", f"{status_line}\n\n{err.detail()}\n".encode()
    item: dict[str, object] = {
        "status": err.status,
        "title": err.title,
        "detail": err.detail(),
        "request_id": request_id,
    }
    if with_code:
        item["code"] = err.code
    item.update(err.extra)
    return "application/json", json.dumps({"errors": [item]}).encode()
