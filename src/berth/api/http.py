"""The request and response values every handler sees.

berth is a plain WSGI application: the server (gunicorn) owns sockets and processes, and
this module turns a WSGI environ into a small typed ``Request`` and a ``Response`` back
into bytes. Handlers never touch the environ, so they read like the API reference.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from berth.api.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from berth.api.microversion import MIN_VERSION, Version

# Bodies larger than this are refused before being read (Placement's own bodies are small;
# a reshaper or a POST /allocations for a large migration batch fits easily).
MAX_BODY_BYTES = 8 * 1024 * 1024


@dataclass(slots=True)
class Context:
    """Who is asking: filled by the auth middleware, read by policy checks."""

    user_id: str | None = None
    project_id: str | None = None
    roles: frozenset[str] = frozenset()
    system_scope: str | None = None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query_string: str
    headers: dict[str, str]  # lower-cased names
    environ: dict[str, Any]
    request_id: str
    version: Version = MIN_VERSION
    context: Context = field(default_factory=Context)
    path_params: dict[str, str] = field(default_factory=dict)
    _body: bytes | None = None
    # Why the raw path could not be read (not UTF-8); the app answers 400 with it.
    path_error: str | None = None

    @classmethod
    def from_environ(cls, environ: dict[str, Any], request_id: str) -> Request:
        headers: dict[str, str] = {}
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                headers[key[5:].replace("_", "-").lower()] = value
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        if environ.get("CONTENT_LENGTH"):
            headers["content-length"] = environ["CONTENT_LENGTH"]
        raw_path = environ.get("PATH_INFO", "/") or "/"
        path_error = None
        # PEP 3333 hands us latin-1 decoded bytes; re-decode as UTF-8 (unicode names).
        try:
            path = raw_path.encode("latin-1").decode("utf-8")
        except UnicodeEncodeError:
            path = raw_path  # already text (some servers decode for us)
        except UnicodeDecodeError:
            path = raw_path.encode("latin-1").decode("utf-8", errors="replace")
            path_error = "The request path is not valid UTF-8."
        return cls(
            method=environ.get("REQUEST_METHOD", "GET").upper(),
            path=path,
            query_string=environ.get("QUERY_STRING", ""),
            headers=headers,
            environ=environ,
            request_id=request_id,
            path_error=path_error,
        )

    @property
    def query(self) -> list[tuple[str, str]]:
        """Query parameters in order, repeats kept (member_of may repeat).

        400 when the query string is not UTF-8, raw or percent-encoded.
        """
        try:
            text = self.query_string.encode("latin-1").decode("utf-8")
        except UnicodeEncodeError:
            text = self.query_string
        except UnicodeDecodeError as exc:
            raise BadRequest("Invalid query string: not UTF-8") from exc
        try:
            return parse_qsl(text, keep_blank_values=True, errors="strict")
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadRequest("Invalid query string: not UTF-8") from exc

    def query_dict(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for key, value in self.query:
            out.setdefault(key, []).append(value)
        return out

    def content_length(self) -> int | None:
        """The declared body length; 400 when it is not a non-negative integer."""
        text = self.headers.get("content-length", "").strip()
        if not text:
            return None
        if not text.isascii() or not text.isdigit():
            raise BadRequest("content-length header must be an integer")
        return int(text)

    @property
    def body(self) -> bytes:
        """The request body, read once; 413 beyond ``MAX_BODY_BYTES``.

        A chunked body (no Content-Length) is read up to the limit, never unbounded.
        """
        if self._body is None:
            length = self.content_length()
            if length is not None and length > MAX_BODY_BYTES:
                raise PayloadTooLarge(f"Request body larger than {MAX_BODY_BYTES} bytes")
            stream = self.environ.get("wsgi.input")
            if stream is None or length == 0:
                self._body = b""
            elif length is not None:
                self._body = stream.read(length)
            elif "chunked" in self.headers.get("transfer-encoding", "").lower():
                data = stream.read(MAX_BODY_BYTES + 1)
                if len(data) > MAX_BODY_BYTES:
                    raise PayloadTooLarge(f"Request body larger than {MAX_BODY_BYTES} bytes")
                self._body = data
            else:
                self._body = b""
        return self._body

    def json_body(self) -> Any:
        """The body as JSON; 415/400 as Placement answers for the wrong media type or syntax.

        ``NaN``/``Infinity`` (which Python's parser accepts but JSON does not have) and
        absurdly deep nesting are malformed JSON here, never a crash further down.
        """
        ctype = self.headers.get("content-type")
        media = ctype.split(";")[0].strip().lower() if ctype else None
        if media != "application/json":
            raise UnsupportedMediaType(
                f"The media type {media} is not supported, use application/json"
            )
        try:
            return json.loads(self.body, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest(f"Malformed JSON: {exc}") from exc
        except RecursionError as exc:
            raise BadRequest("Malformed JSON: nested too deeply") from exc

    def path_param(self, name: str) -> str:
        return unquote(self.path_params[name])


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


@dataclass(slots=True)
class Response:
    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str | None = None

    def header(self, name: str, value: str) -> Response:
        self.headers.append((name, value))
        return self


def json_response(data: Any, status: int = 200) -> Response:
    return Response(
        status=status,
        body=json.dumps(data, separators=(",", ":")).encode(),
        content_type="application/json",
    )


def raw_json_response(body: bytes, status: int = 200) -> Response:
    """A response whose body is already JSON (rendered without building objects first,
    see ``berth.api.candidates_json``): sent as is, never re-serialized."""
    return Response(status=status, body=body, content_type="application/json")


def no_content() -> Response:
    return Response(status=204)


def header_list(resp: Response) -> Iterable[tuple[str, str]]:
    if resp.content_type is not None:
        yield ("Content-Type", resp.content_type)
    yield from resp.headers


def http_date(moment: datetime) -> str:
    """RFC 7231 date for Last-Modified (stored timestamps are naive UTC)."""
    return format_datetime(moment.replace(tzinfo=UTC), usegmt=True)


def cache_headers(req: Request, resp: Response, last_modified: datetime | None) -> Response:
    """From 1.15 on, GETs carry ``cache-control: no-cache`` and ``last-modified``.

    ``last_modified`` is the newest updated_at/created_at of what the response shows; with
    nothing to show (an empty list), Placement uses the current time.
    """
    if req.version >= (1, 15):
        moment = last_modified or datetime.now(UTC).replace(tzinfo=None)
        resp.header("cache-control", "no-cache")
        resp.header("last-modified", http_date(moment))
    return resp
