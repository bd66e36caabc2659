"""The benchmark's raw read client against a real HTTP server over a real socket.

It times every read of the Placement comparison, so it must read exactly one whole
answer per request on a kept-alive connection (Content-Length and chunked bodies), and
reconnect when the server closed the idle connection.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from raw_http import RawClient

BIG = b"x" * (3 * 1024 * 1024 + 7)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        seen = self.headers.get("X-Auth-Token", "")
        if self.path == "/big":
            self._send(200, BIG)
        elif self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"hello ", b"chunked ", b"world"):
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/close":
            self.close_connection = True
            self._send(404, b"gone", close=True)
        else:
            self._send(200, f"{self.path} {seen}".encode())

    def _send(self, status: int, body: bytes, close: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_whole_answers_on_one_connection(server: str) -> None:
    client = RawClient(server, {"X-Auth-Token": "admin"})
    try:
        first = client.get("/a?x=1")
        sock = client._sock
        assert first.status_code == 200 and first.text == "/a?x=1 admin"
        big = client.get("/big")
        assert big.content == BIG
        assert client.get("/chunked").text == "hello chunked world"
        assert client.get("/b").text == "/b admin"
        assert client._sock is sock  # kept alive throughout
    finally:
        client.close()


def test_reconnects_after_the_server_closes(server: str) -> None:
    client = RawClient(server, {})
    try:
        closed = client.get("/close")
        assert closed.status_code == 404 and closed.text == "gone"
        assert client._sock is None
        assert client.get("/again").text == "/again "
    finally:
        client.close()
