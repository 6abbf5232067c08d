"""The loopback webhook receiver of the delivery benchmark, in a process of its own.

It is the tests' receiver (``tests.peers.serve_webhooks``, HTTP/1.1 with connections kept
alive), answering 204 to everything; a process of its own so that it competes with neither
the benchmark's polling nor the httpx baseline for one interpreter. The benchmark asks it
through a pipe when each signed ``webhook-id`` arrived.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection

from tests.peers import Received, serve_webhooks


def arrivals(requests: list[Received]) -> dict[str, list[float]]:
    """``webhook-id`` → the times (Unix seconds) its signed POSTs arrived."""
    seen: dict[str, list[float]] = {}
    for request in requests:
        if request.method == "POST" and request.headers.get("webhook-signature", "")[:3] == "v1,":
            seen.setdefault(request.headers.get("webhook-id", ""), []).append(request.arrived)
    return seen


def serve(conn: Connection) -> None:
    """The child: serve until terminated; answer "look" and "take" (look, then forget)."""
    with serve_webhooks(keep_alive=True) as receiver:
        receiver.status = 204
        conn.send(receiver.url)
        while True:
            asked = conn.recv()
            conn.send(arrivals(receiver.received(clear=asked == "take")))


@dataclass
class Receiver:
    """The running receiver: its base URL and process id, and what it has seen."""

    url: str
    pid: int
    conn: Connection

    def received(self, reset: bool = False) -> dict[str, list[float]]:
        """``webhook-id`` → arrival times so far; ``reset`` forgets them afterwards."""
        self.conn.send("take" if reset else "look")
        return self.conn.recv()


@contextmanager
def receiver() -> Iterator[Receiver]:
    """The receiver while it runs in a child process (stopped at the end)."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=serve, args=(theirs,), daemon=True)
    process.start()
    try:
        if not ours.poll(30):
            sys.exit("benchmark: the webhook receiver did not start")
        yield Receiver(ours.recv(), process.pid or 0, ours)
    finally:
        process.terminate()
        process.join(10)
