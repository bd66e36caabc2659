"""A minimal keep-alive HTTP/1.1 client for timing requests: the client's own cost ~0.

The read scenarios measure how long a server takes to answer. httpx, used for everything
else in the benchmark, reads a body in 64 KiB pieces through its HTTP parser; for the
5.7 MB unlimited candidates answer at 10,000 nodes that alone took ~10 ms of client CPU
per request, on top of a ~13 ms server answer (measured 2026-11-21: 23.3 ms with
httpx, 13.2 ms with this client, same server, same query). That is the client's time, not
the server's, so reads are timed with this client instead, identically for both systems:
one persistent connection, the request written in one ``sendall``, the body read in
1 MiB ``recv`` calls until ``Content-Length`` (or the last chunk of a chunked answer).
The answer is returned as an ``httpx.Response`` so the rest of the harness is unchanged.
"""

from __future__ import annotations

import json as _json
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

_RECV = 1 << 20


class RawClient:
    def __init__(self, base_url: str, headers: dict[str, str], timeout_s: float = 600.0) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.headers = {k: v for k, v in headers.items() if k.lower() != "host"}
        self.timeout_s = timeout_s
        self._sock: socket.socket | None = None
        self._buf = b""

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def get(self, path: str) -> httpx.Response:
        """GET ``path``; reconnects once if the server closed the idle connection."""
        try:
            return self._send("GET", path)
        except ConnectionError:
            self.close()
            return self._send("GET", path)

    def post(self, path: str, json: Any) -> Answer:
        """POST ``json`` to ``path``. Resent on a new connection only when a kept-alive
        connection turned out closed before any byte of the answer came back (the server
        closed it while idle, so it never saw the request); any later failure raises."""
        body = _json.dumps(json).encode()
        reused = self._sock is not None
        try:
            status, _, content = self._exchange("POST", path, body)
        except _Unanswered:
            if not reused:
                raise
            self.close()
            status, _, content = self._exchange("POST", path, body)
        return Answer(status, content)

    def _connect(self) -> socket.socket:
        if self._sock is None:
            self._sock = socket.create_connection((self.host, self.port), self.timeout_s)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._buf = b""
        return self._sock

    def _send(self, method: str, path: str, body: bytes | None = None) -> httpx.Response:
        status, headers, content = self._exchange(method, path, body)
        return httpx.Response(status, headers=headers, content=content)

    def _exchange(
        self, method: str, path: str, body: bytes | None = None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        sock = self._connect()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        if body is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        head_bytes = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            sock.sendall(head_bytes + (body or b""))
            if not self._buf:
                self._fill()
        except (ConnectionError, _Closed) as exc:
            raise _Unanswered(str(exc)) from exc
        head = self._until(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers = [tuple(h.split(":", 1)) for h in header_lines if ":" in h]
        fields = {k.strip().lower(): v.strip() for k, v in headers}
        if fields.get("transfer-encoding", "").lower() == "chunked":
            content = self._chunked()
        else:
            content = self._exactly(int(fields.get("content-length", "0")))
        if fields.get("connection", "").lower() == "close":
            self.close()
        return status, [(k.strip(), v.strip()) for k, v in headers], content

    def _fill(self) -> None:
        assert self._sock is not None
        data = self._sock.recv(_RECV)
        if not data:
            raise _Closed
        self._buf += data

    def _until(self, marker: bytes) -> bytes:
        while marker not in self._buf:
            self._fill()
        out, self._buf = self._buf.split(marker, 1)
        return out

    def _exactly(self, size: int) -> bytes:
        parts = [self._buf[:size]]
        got = len(parts[0])
        self._buf = self._buf[size:]
        assert self._sock is not None
        while got < size:
            data = self._sock.recv(max(_RECV, size - got))
            if not data:
                raise _Closed
            parts.append(data[: size - got])
            self._buf = data[size - got :]
            got += len(parts[-1])
        return b"".join(parts)

    def _chunked(self) -> bytes:
        parts = []
        while True:
            size = int(self._until(b"\r\n").split(b";", 1)[0], 16)
            if size == 0:
                self._until(b"\r\n")
                return b"".join(parts)
            parts.append(self._exactly(size))
            self._until(b"\r\n")


@dataclass(frozen=True, slots=True)
class Answer:
    """A POST's answer: what the scheduler benchmark reads of it, without building an
    ``httpx.Response`` (whose construction and decoding cost the client ~0.1 ms a
    request, on the cores the server runs on)."""

    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return _json.loads(self.content)


class _Closed(ConnectionError):
    """The server closed the connection."""


class _Unanswered(ConnectionError):
    """The connection failed before any byte of the answer arrived."""
