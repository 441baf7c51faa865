"""The public HTTP front of `tweetsent serve`: checks scoring requests and forwards them to the current model server.

Each client connection gets a thread (ThreadingHTTPServer, HTTP/1.1 keep-alive) holding its own keep-alive
connection to the backend, so a request costs one local hop. Every answer names the version that scored it.
"""
from __future__ import annotations

import http.client
import json
import logging
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .scoring_requests import EXAMPLE, BadRequest, request_texts
from .serving import HOST, AliasFollower, Backend, ServingError

VERSION_HEADER = "X-Model-Version"
SCORING_PATH = "/invocations"
BODY_BYTES_PER_TWEET = 4096
log = logging.getLogger(__name__)
_RETRYABLE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


class FrontServer(ThreadingHTTPServer):
    """Listens on the public address; `follower` says which backend scores, `max_batch` caps tweets per request."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], follower: AliasFollower, max_batch: int,
                 backend_timeout_s: float = 120.0):
        super().__init__(address, _Handler)
        self.follower = follower
        self.max_batch = max_batch
        self.max_body = max_batch * BODY_BYTES_PER_TWEET + 65536
        self.backend_timeout_s = backend_timeout_s

    def handle_error(self, request, client_address) -> None:
        """A client that hung up is no error worth a traceback; anything else is logged."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            log.exception("request from %s failed", client_address[0])

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: without it, a delayed ACK costs 40 ms
    server: FrontServer

    def setup(self) -> None:
        super().setup()
        self._upstream: dict[int, http.client.HTTPConnection] = {}

    def finish(self) -> None:
        for connection in self._upstream.values():
            connection.close()
        super().finish()

    def log_message(self, format: str, *args) -> None:
        """Quiet: one line per request would cost more than the request."""

    def do_GET(self) -> None:
        backend = self.server.follower.current
        if self.path == "/ping":
            self._send(200 if backend else 503, b"ok\n" if backend else b"starting\n", "text/plain", backend)
        elif self.path == "/version":
            config = self.server.follower.config
            body = {"model": config.name, "alias": config.alias, "version": backend and backend.version,
                    "uri": backend and f"models:/{config.name}/{backend.version}", "backend": backend and backend.url}
            self._send_json(200 if backend else 503, body, backend)
        else:
            self._error(404, "NOT_FOUND", f"no such path {self.path!r}: GET /ping, GET /version, POST {SCORING_PATH}")

    def do_POST(self) -> None:
        if self.path != SCORING_PATH:
            self._error(404, "NOT_FOUND", f"no such path {self.path!r}: POST {SCORING_PATH}")
            return
        body = self._read_body()
        if body is None:
            return
        content_type = self.headers.get("Content-Type", "application/json").split(";")[0].strip().lower()
        if content_type != "application/json":
            self._error(415, "UNSUPPORTED_MEDIA_TYPE", f"Content-Type {content_type!r} is not accepted: "
                                                        f"send application/json such as {EXAMPLE}")
            return
        try:
            texts = request_texts(body, self.server.max_batch)
        except BadRequest as exc:
            self._error(exc.status, "BAD_REQUEST", str(exc))
            return
        if self.server.follower.current is None:
            self._error(503, "MODEL_SERVER_STARTING", "the model server is still starting: try again in a few seconds")
            return
        try:
            with self.server.follower.lease() as backend:
                status, answer = self._forward(backend, json.dumps({"inputs": texts}).encode())
        except (ServingError, OSError, http.client.HTTPException) as exc:
            self._error(502, "MODEL_SERVER_UNAVAILABLE", f"the model server did not answer: {exc}")
            return
        if status == 200:
            answer = json.loads(answer)
            answer["model_version"] = backend.version
            self._send_json(200, answer, backend)
        else:
            self._send(status, answer, "application/json", backend)

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering 411/413 (and closing: the body is not read)."""
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            self._error(411, "LENGTH_REQUIRED", "a Content-Length header is required (chunked bodies are not accepted)")
            return None
        if int(length) > self.server.max_body:
            self.close_connection = True
            self._error(413, "BAD_REQUEST", f"request body of {length} bytes is over the limit of "
                                            f"{self.server.max_body} bytes")
            return None
        return self.rfile.read(int(length))

    def _forward(self, backend: Backend, body: bytes) -> tuple[int, bytes]:
        """POST to the backend on this thread's keep-alive connection, again on a fresh one if it had been closed."""
        try:
            return self._post(backend, body)
        except _RETRYABLE:
            return self._post(backend, body)

    def _post(self, backend: Backend, body: bytes) -> tuple[int, bytes]:
        connection = self._connection(backend)
        try:
            connection.request("POST", SCORING_PATH, body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException):
            self._upstream.pop(backend.port).close()
            raise

    def _connection(self, backend: Backend) -> http.client.HTTPConnection:
        """This thread's connection to `backend`; connections to backends no longer current are closed."""
        for port in [p for p in self._upstream if p != backend.port]:
            self._upstream.pop(port).close()
        if backend.port not in self._upstream:
            self._upstream[backend.port] = http.client.HTTPConnection(HOST, backend.port,
                                                                      timeout=self.server.backend_timeout_s)
        return self._upstream[backend.port]

    def _error(self, status: int, code: str, message: str) -> None:
        self._send_json(status, {"error_code": code, "message": message}, self.server.follower.current)

    def _send_json(self, status: int, payload: dict, backend: Backend | None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", backend)

    def _send(self, status: int, body: bytes, content_type: str, backend: Backend | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if backend is not None:
            self.send_header(VERSION_HEADER, backend.version)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
