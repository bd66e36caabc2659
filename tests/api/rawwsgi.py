"""Call the WSGI app with a hand-made environ: bytes an HTTP client library won't send.

httpx refuses non-integer Content-Length, raw non-UTF-8 path bytes and the like; a real
server hands such requests to the app anyway, so the HTTP-edge tests build the environ.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass
class RawResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ", ".join(values) if values else None

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    app: Callable[[dict[str, Any], Any], Iterable[bytes]],
    method: str,
    path: bytes | str,
    *,
    query: bytes | str = b"",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    content_length: str | None = None,
) -> RawResponse:
    """One request; ``headers`` are HTTP names (``Content-Type`` goes to CONTENT_TYPE)."""
    raw_path = path.encode() if isinstance(path, str) else path
    raw_query = query.encode() if isinstance(query, str) else query
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": raw_path.decode("latin-1"),
        "QUERY_STRING": raw_query.decode("latin-1"),
        "SERVER_NAME": "berth.test",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
    }
    if content_length is not None:
        environ["CONTENT_LENGTH"] = content_length
    elif body:
        environ["CONTENT_LENGTH"] = str(len(body))
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_LENGTH", "CONTENT_TYPE"):
            environ[key] = value
        else:
            environ[f"HTTP_{key}"] = value
    seen: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        seen["status"] = int(status.split()[0])
        seen["headers"] = response_headers

    out = b"".join(app(environ, start_response))
    return RawResponse(seen["status"], seen["headers"], out)
