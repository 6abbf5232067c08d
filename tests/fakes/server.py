"""The loopback HTTP server under every contract fake.

A :class:`FakeServer` is a stdlib ``ThreadingHTTPServer`` bound to ``127.0.0.1:0`` in a
daemon thread. It records every request as a :class:`Request` (body parsed as JSON, a
urlencoded form or ``multipart/form-data`` via the stdlib ``email`` parser), dispatches it
to a route by method and path regex, and answers with a :class:`Reply`.

Scripting, in the order the requests arrive (one queue shared by every route):

- ``fail_next(status, body=..., headers=...)``: answer the next request with exactly this;
- ``drop_next(processed=False, reset=False)``: read the next request in full, then close
  the connection without answering (``reset=True``: abort it with a TCP RST, a "connection
  reset by peer"). With ``processed=True`` the fake first handles it (the post is made) and
  only the answer is lost, as when a server crashes after committing;
- ``delay_next(seconds)``: handle the next request (the post is made), then wait before
  answering, as a server slower than the client's deadline;
- ``garble_next(body)``: handle the next request, then answer 200 with a body that is not
  the JSON the API promises (a proxy's HTML page, a truncated body);
- ``fail_next(..., times=N)`` makes a storm of the same answer (5xx, 429 + Retry-After);
- subclasses add channel-shaped helpers (``rate_limit``, ``reject_token``...) on top of
  :meth:`FakeServer.script_next`.

A bug in a fake (an exception in a handler) closes that connection and is re-raised as
:class:`FakeServerError` when the ``with`` block ends, so it cannot pass for a dropped
connection in an adapter test.
"""

from __future__ import annotations

import collections
import email.parser
import email.policy
import json
import re
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, unquote, urlsplit

from scheduler.clock import Clock, SystemClock


class FakeServerError(AssertionError):
    """A handler of the fake raised: the fake has a bug, not the code under test."""


@dataclass(frozen=True)
class UploadedFile:
    """One file part of a ``multipart/form-data`` body."""

    field: str
    filename: str | None
    content_type: str | None  # None when the part carried no Content-Type header
    data: bytes


@dataclass(frozen=True)
class Request:
    """One request as the fake read it; header names are lower-cased, the path unquoted."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any = None  # the parsed body when it was sent as application/json
    fields: tuple[tuple[str, str], ...] = ()  # urlencoded or multipart text fields, in order
    files: dict[str, UploadedFile] = field(default_factory=dict)
    malformed: bool = False  # the body did not parse as its Content-Type said

    @property
    def form(self) -> dict[str, str]:
        """Text fields of a form body; for a repeated name, the last value."""
        return dict(self.fields)

    def form_list(self, name: str) -> list[str]:
        """Every value of a repeated form field (``media_ids[]=1&media_ids[]=2``)."""
        return [value for key, value in self.fields if key == name]

    def param(self, name: str) -> Any:
        """A parameter from the JSON object, else the form, else the query string."""
        if isinstance(self.json, dict) and name in self.json:
            return self.json[name]
        form = self.form
        if name in form:
            return form[name]
        return self.query.get(name)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


@dataclass(frozen=True)
class Reply:
    """How the fake answers one request: after ``delay`` seconds, or by a TCP reset."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    reset: bool = False


def json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps(payload).encode()
    return Reply(
        status, body, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    )


def text_reply(status: int, text: str, headers: dict[str, str] | None = None) -> Reply:
    body = text.encode()
    return Reply(status, body, {"Content-Type": "text/plain; charset=utf-8", **(headers or {})})


def to_reply(
    status: int, body: bytes | str | dict | list | None, headers: dict[str, str] | None
) -> Reply:
    """A raw reply: a dict or list is sent as JSON, a str as text, bytes as they are."""
    if isinstance(body, dict | list):
        return json_reply(status, body, headers)
    if isinstance(body, str):
        return text_reply(status, body, headers)
    return Reply(status, body or b"", dict(headers or {}))


Handler = Callable[[Request, re.Match[str]], Reply]
Answer = Callable[[Request], Reply]


@dataclass(frozen=True)
class Route:
    methods: frozenset[str]
    pattern: re.Pattern[str]
    handler: Handler


@dataclass(frozen=True)
class Scripted:
    """A scripted answer for one request: ``answer(request)``, or drop the connection."""

    answer: Answer | None = None
    drop: bool = False
    processed: bool = False  # run the real handler first (the post is made), then answer
    reset: bool = False  # with drop: abort the connection (RST) instead of closing it
    delay: float = 0.0  # with no answer: the real handler's reply, this much later


def parse_body(content_type_header: str, body: bytes) -> dict[str, Any]:
    """The ``json`` / ``fields`` / ``files`` / ``malformed`` parts of a :class:`Request`."""
    content_type = content_type_header.split(";")[0].strip().lower()
    if not body:
        return {}
    if content_type == "application/json":
        try:
            return {"json": json.loads(body)}
        except ValueError:
            return {"malformed": True}
    if content_type == "application/x-www-form-urlencoded":
        try:
            text = body.decode()
        except UnicodeDecodeError:
            return {"malformed": True}
        return {"fields": tuple(parse_qsl(text, keep_blank_values=True))}
    if content_type == "multipart/form-data":
        return parse_multipart(content_type_header, body)
    return {}


def parse_multipart(content_type_header: str, body: bytes) -> dict[str, Any]:
    """Parse ``multipart/form-data`` with the stdlib ``email`` parser."""
    head = b"Content-Type: " + content_type_header.encode("latin-1") + b"\r\n\r\n"
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart() or message.defects:
        return {"malformed": True}
    fields: list[tuple[str, str]] = []
    files: dict[str, UploadedFile] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            return {"malformed": True}
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            return {"malformed": True}
        filename = part.get_filename()
        if filename is None:
            charset = part.get_content_charset() or "utf-8"
            fields.append((name, data.decode(charset, "replace")))
        else:
            content_type = part.get_content_type() if part.get("content-type") else None
            files[name] = UploadedFile(name, filename, content_type, data)
    return {"fields": tuple(fields), "files": files}


class FakeServer:
    """A channel's HTTP API on 127.0.0.1, with recorded requests and a script of answers.

    :param clock: where timestamps, snowflakes and expiry come from (``FrozenClock`` in tests).
    """

    def __init__(self, *, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self.url = ""  # base URL, e.g. http://127.0.0.1:54321, once started
        self.requests: list[Request] = []
        self.errors: list[BaseException] = []
        self._routes: list[Route] = []
        self._script: collections.deque[Scripted] = collections.deque()
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- life cycle ------------------------------------------------------------------

    def start(self) -> Self:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        server.handle_error = self._record_error  # type: ignore[method-assign]
        # A short poll interval: shutdown() waits for the loop to notice (0.5 s by default).
        thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
        thread.start()
        self._server, self._thread = server, thread
        self.url = f"http://127.0.0.1:{server.server_port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if self.errors and exc is None:
            raise FakeServerError(f"{type(self).__name__} failed: {self.errors[0]!r}") from (
                self.errors[0]
            )

    def _record_error(self, request: object, client_address: object) -> None:
        # socketserver calls handle_error from inside its except block. A client that went
        # away before its answer (a daemon SIGKILLed mid-request, a client past its deadline)
        # breaks the pipe: that is the client's doing, not a bug in the fake.
        error = sys.exc_info()[1]
        if error is not None and not isinstance(error, (BrokenPipeError, ConnectionResetError)):
            self.errors.append(error)

    # --- routes and scripting --------------------------------------------------------

    def route(self, methods: str, pattern: str, handler: Handler) -> None:
        """Send ``methods`` (space-separated) on paths fully matching ``pattern`` to ``handler``."""
        self._routes.append(Route(frozenset(methods.split()), re.compile(pattern), handler))

    def script_next(self, answer: Answer, *, times: int = 1) -> None:
        """Answer the next ``times`` requests (any route) with ``answer(request)``."""
        with self._lock:
            self._script.extend(Scripted(answer=answer) for _ in range(times))

    def fail_next(
        self,
        status: int,
        body: bytes | str | dict | list | None = None,
        headers: dict[str, str] | None = None,
        *,
        times: int = 1,
        processed: bool = False,
    ) -> None:
        """Answer the next ``times`` requests (any route) with exactly this status, body and
        headers; with ``processed=True`` each is handled first (the post is made)."""
        reply = to_reply(status, body, headers)
        with self._lock:
            self._script.extend(
                Scripted(answer=lambda request: reply, processed=processed) for _ in range(times)
            )

    def drop_next(self, *, processed: bool = False, reset: bool = False) -> None:
        """Read the next request in full, then close the connection without answering.

        With ``processed=True`` the request takes effect first (the post exists), so the
        client cannot tell from the transport error whether it went through. With
        ``reset=True`` the connection is aborted (RST) rather than closed.
        """
        with self._lock:
            self._script.append(Scripted(drop=True, processed=processed, reset=reset))

    def delay_next(self, seconds: float) -> None:
        """Handle the next request (the post is made), then answer only after ``seconds``."""
        with self._lock:
            self._script.append(Scripted(processed=True, delay=seconds))

    def garble_next(self, body: bytes | str = b"<html>502 Bad Gateway</html>") -> None:
        """Handle the next request (the post is made), then answer 200 with ``body``."""
        self.fail_next(200, body.encode() if isinstance(body, str) else body, processed=True)

    # --- dispatch --------------------------------------------------------------------

    def handle(self, request: Request) -> Reply | None:
        """Record ``request`` and answer it; ``None`` means drop the connection."""
        with self._lock:
            self.requests.append(request)
            scripted = self._script.popleft() if self._script else None
            if scripted is None:
                return self.dispatch(request)
            handled = self.dispatch(request) if scripted.processed else None
            if scripted.drop:
                return Reply(0, reset=True) if scripted.reset else None
            if scripted.answer is None:
                assert handled is not None
                return replace(handled, delay=scripted.delay)
            return scripted.answer(request)

    def dispatch(self, request: Request) -> Reply:
        allowed = False
        for route in self._routes:
            match = route.pattern.fullmatch(request.path)
            if match is None:
                continue
            if request.method in route.methods:
                return route.handler(request, match)
            allowed = True
        if allowed:
            return self.method_not_allowed(request)
        return self.not_found(request)

    def not_found(self, request: Request) -> Reply:
        """The answer for a path no route knows; channels override it with their shape."""
        return text_reply(404, "Not Found")

    def method_not_allowed(self, request: Request) -> Reply:
        return text_reply(405, "Method Not Allowed")


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length)


def _handler_class(fake: FakeServer) -> type[BaseHTTPRequestHandler]:
    class FakeHandler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            body = _read_body(self)
            split = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            request = Request(
                method=self.command,
                path=unquote(split.path),
                query=dict(parse_qsl(split.query, keep_blank_values=True)),
                headers=headers,
                body=body,
                **parse_body(headers.get("content-type", ""), body),
            )
            reply = fake.handle(request)
            if reply is None:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if reply.reset:  # linger 0: close() sends RST, the client reads ECONNRESET
                self.close_connection = True
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()
                return
            if reply.delay:
                time.sleep(reply.delay)
                try:
                    self._answer(reply)
                except OSError:  # the client gave up waiting, as it should
                    self.close_connection = True
                return
            self._answer(reply)

        def _answer(self, reply: Reply) -> None:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.status not in (204, 304):
                self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if reply.body and reply.status not in (204, 304):
                self.wfile.write(reply.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass

    return FakeHandler


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units: characters outside the BMP (most emoji) count 2."""
    return len(text.encode("utf-16-le")) // 2
