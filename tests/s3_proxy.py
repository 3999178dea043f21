"""A loopback HTTP proxy in front of the moto S3 server that answers 503 SlowDown to some PUTs
and counts what reached the store (tests of storage faults)."""

from __future__ import annotations

import hashlib
import http.client
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


class FaultyProxy:
    """Every `fail_every`-th PUT is refused with 503 before it reaches the store."""

    def __init__(self, upstream: str, *, fail_every: int = 0) -> None:
        self.upstream = urlsplit(upstream)
        self.fail_every = fail_every
        self.puts = 0
        self.refused = 0
        self.stored: Counter[str] = Counter()  # key -> PUTs the store answered 200
        self.bodies: Counter[tuple[str, str]] = Counter()  # (key, sha256) -> the same
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
                pass

            def do_PUT(self) -> None:  # noqa: N802 - stdlib's name
                with proxy._lock:
                    proxy.puts += 1
                    refuse = proxy.fail_every and proxy.puts % proxy.fail_every == 0
                    proxy.refused += bool(refuse)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if refuse:
                    self._answer(503, SLOW_DOWN, {"Content-Type": "application/xml"})
                    return
                self._forward(body)

            def do_GET(self) -> None:  # noqa: N802 - stdlib's name
                self._forward(b"")

            def do_HEAD(self) -> None:  # noqa: N802 - stdlib's name
                self._forward(b"", head=True)

            def _forward(self, body: bytes, *, head: bool = False) -> None:
                connection = http.client.HTTPConnection(
                    proxy.upstream.hostname or "127.0.0.1", proxy.upstream.port, timeout=30
                )
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                connection.request(self.command, self.path, body=body or None, headers=headers)
                answer = connection.getresponse()
                data = answer.read()
                if self.command == "PUT" and answer.status == 200:
                    with proxy._lock:
                        proxy.stored[self.path] += 1
                        proxy.bodies[self.path, hashlib.sha256(body).hexdigest()] += 1
                names = {"content-length", "transfer-encoding", "connection"}
                kept = {k: v for k, v in answer.getheaders() if k.lower() not in names}
                if head:
                    kept["Content-Length"] = answer.getheader("Content-Length", "0")
                self._answer(answer.status, b"" if head else data, kept, head=head)
                connection.close()

            def _answer(
                self, status: int, data: bytes, headers: dict[str, str], *, head: bool = False
            ) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                if not head:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if data:
                    self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FaultyProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
