"""A loopback web server standing in for the public host Meta fetches ``image_url`` from.

The Threads, Instagram and Facebook fakes really fetch an image URL over HTTP, as Meta
does, so their tests serve images from an :class:`ImageHost` (never from the fake itself,
which is busy answering the request that made it fetch). The images are built by hand, so
no imaging library is needed: :data:`PNG` (:func:`png`) and :data:`JPEG` (:func:`jpeg`).

A test module takes the host as a fixture by importing it (see :mod:`tests.fakes.selftest`
for the ``F811`` pragma that goes with it)::

    from tests.fakes.imagehost import images  # noqa: F401  (fixture)
"""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


def png(width: int = 2, height: int = 2) -> bytes:
    """A small valid PNG (8-bit RGB, all red)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        checksum = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + checksum

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def jpeg() -> bytes:
    """A tiny 8x8 grey baseline JPEG (one-symbol Huffman tables, one block)."""

    def segment(marker: int, payload: bytes) -> bytes:
        return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload

    one_symbol = bytes([1] + [0] * 15) + b"\x00"  # a single code of length 1, symbol 0
    return b"".join(
        [
            b"\xff\xd8",  # SOI
            segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
            segment(0xDB, b"\x00" + b"\x01" * 64),
            segment(0xC0, struct.pack(">BHHB", 8, 8, 8, 1) + b"\x01\x11\x00"),
            segment(0xC4, b"\x00" + one_symbol),  # DC table 0
            segment(0xC4, b"\x10" + one_symbol),  # AC table 0
            segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"),
            b"\x3f",  # DC difference 0, end of block, padded with ones
            b"\xff\xd9",  # EOI
        ]
    )


PNG = png()
JPEG = jpeg()
#: what the host serves, by path: status, Content-Type, body; anything else is a 404
FILES = {
    "/photo.jpg": (200, "image/jpeg", JPEG),
    "/photo.png": (200, "image/png", PNG),
    "/mislabelled.jpg": (200, "image/jpeg", PNG),
    "/truncated.jpg": (200, "image/jpeg", JPEG[:-2]),
    "/page.html": (200, "text/html; charset=utf-8", b"<html>hi</html>"),
}


class ImageHost:
    """Serves :data:`FILES` on 127.0.0.1 in a thread, and keeps the paths asked for."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host.hits.append(self.path)
                status, content_type, body = FILES.get(self.path, (404, "text/plain", b"not found"))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> ImageHost:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def images() -> Iterator[ImageHost]:
    """An image host for the test, shut down after it."""
    with ImageHost() as host:
        yield host
