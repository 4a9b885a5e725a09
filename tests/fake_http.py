"""Plumbing shared by the fake LLM servers (ollama_server.py, openai_server.py).

A threaded HTTP/1.1 server on a free loopback port that records every request,
and a handler base with the pieces both protocols need: JSON replies, a
chunked body written piece by piece, and two ways to misbehave mid-body (cut
the connection, or stall until the client gives up). What the servers say is
protocol-specific and lives in their own modules.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self


@dataclass(frozen=True)
class Recorded:
    """One request the server received."""

    method: str
    path: str
    body: Any
    # Header names lower-cased; a repeated header keeps its last value.
    headers: dict[str, str] = field(default_factory=dict)


class LoopbackServer:
    """A scripted server in a daemon thread; a context manager.

    Subclasses set `handler` to a `FakeHandler` subclass; each started server
    binds its own copy of it, so handlers reach their server as `self.fake`.
    """

    handler: ClassVar[type[FakeHandler]]
    thread_name: ClassVar[str] = "fake-http"

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        # Set by stop(): releases a stalled handler at once.
        self.stop_event = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self, port: int = 0) -> Self:
        """Serve on `port` (0: any free one; a fixed one to come back after a stop)."""
        bound = type(self.handler.__name__, (self.handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", port), bound)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=self.thread_name,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the server first"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- what tests inspect ------------------------------------------------

    def record(
        self, method: str, path: str, body: Any, headers: dict[str, str] | None = None
    ) -> None:
        with self._lock:
            self.requests.append(Recorded(method, path, body, headers or {}))

    def paths(self) -> list[str]:
        with self._lock:
            return [r.path for r in self.requests]

    def bodies(self, path: str) -> list[Any]:
        with self._lock:
            return [r.body for r in self.requests if r.path == path]

    def headers(self, path: str) -> list[dict[str, str]]:
        with self._lock:
            return [r.headers for r in self.requests if r.path == path]


class FakeHandler(BaseHTTPRequestHandler):
    fake: Any  # the LoopbackServer subclass that started this handler
    protocol_version = "HTTP/1.1"
    # Idle keep-alive connections end on their own after this many seconds.
    timeout = 10

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest's captured stderr for the app under test

    def _record(self, method: str, body: Any = None) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.fake.record(method, self.path, body, headers)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw.decode("utf-8", "replace")

    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_text(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    # -- a chunked body, written as the client reads it ----------------------

    def _start_stream(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _cut(self) -> None:
        """Close the connection with the chunked body unfinished."""
        self.wfile.flush()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _stall(self, seconds: float) -> None:
        """Send nothing for `seconds` (or until the server stops), then cut."""
        self.fake.stop_event.wait(seconds)
        self._cut()

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
