"""``--profile``: the engine's claim and send steps in-process, threaded, one by one, and under
cProfile, to show where a delivery's time goes."""

from __future__ import annotations

import cProfile
import logging
import os
import pstats
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from benchmarks.runs import SECRET_ENV, copy_workspace
from benchmarks.workspace import bulk_deliveries, unscheduled_posts
from scheduler.workspace import Workspace, make_engine

#: (label, file suffix, function) of the steps whose cumulative time the profile reports.
STEPS = (
    ("Engine.claim_due (one transaction per batch)", "scheduler/delivery.py", "claim_due"),
    ("Engine.send, all told", "scheduler/delivery.py", "send"),
    ("  WebhookChannel._publish", "channels/webhook.py", "_publish"),
    ("    httpx.Client.request", "httpx/_client.py", "request"),
    ("  Outcomes._finish (the guarded move of each outcome)", "scheduler/outcomes.py", "_finish"),
    ("  posts.holds.settle_posts (once per transaction)", "posts/holds.py", "settle_posts"),
    ("audit.record (every event, queued)", "posts/audit.py", "record"),
    ("audit.link (the chain append, once per transaction)", "posts/audit.py", "link"),
    ("Session.commit (every transaction)", "sqlalchemy/orm/session.py", "commit"),
    ("sqlite3 Connection.commit", "~", "<method 'commit' of 'sqlite3.Connection' objects>"),
    ("logging (Logger._log)", "logging/__init__.py", "_log"),
)


class StatementTimer:
    """Wall time spent inside SQL statements on one engine, split into BEGIN and the rest.

    Summed over threads, so a thread waiting for SQLite's write lock (``BEGIN IMMEDIATE``)
    counts its whole wait.
    """

    def __init__(self, engine: Any) -> None:
        import sqlalchemy as sa

        self.begin = self.other = 0.0
        self.local = threading.local()
        sa.event.listen(engine, "before_cursor_execute", self._before)
        sa.event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, *_args: Any) -> None:
        self.local.start = time.perf_counter()

    def _after(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        spent = time.perf_counter() - self.local.start
        if statement.startswith("BEGIN"):
            self.begin += spent
        else:
            self.other += spent


class CpuSplit:
    """CPU time of the engine's threads in its three steps, from ``time.thread_time``:
    claiming (the loop's thread), sending (the workers) and recording (the loop's thread).

    Thread time counts only what a thread itself ran, not its waits for the interpreter
    lock, so the split holds up on a busy machine better than wall time does. The steps are
    timed by wrapping the engine's own bound methods, which the engine calls through
    ``self``; a step called from inside another (a claim's lease renewal) counts once.
    """

    STEPS = (("claim", "claim_due"), ("send", "_publish"), ("record", "record_held_back"))

    def __init__(self, engine: Any) -> None:
        self.spent = {label: 0.0 for label, _ in self.STEPS}
        self.local = threading.local()
        self.lock = threading.Lock()
        for label, name in self.STEPS:
            setattr(engine, name, self._timed(label, getattr(engine, name)))

    def _timed(self, label: str, method: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            outer = not getattr(self.local, "inside", False)
            self.local.inside = True
            start = time.thread_time()
            try:
                return method(*args, **kwargs)
            finally:
                if outer:
                    self.local.inside = False
                    with self.lock:
                        self.spent[label] += time.thread_time() - start

        return timed

    def per_delivery(self, sent: int) -> str:
        """``claim / send / record`` in ms of CPU a delivery."""
        return " / ".join(f"{1000 * self.spent[label] / max(sent, 1):.2f}" for label in self.spent)


def due_now(pristine: Workspace, folder: Path, count: int) -> Workspace:
    """A copy of ``pristine`` in which ``count`` approved posts fell due a second ago."""
    ws = copy_workspace(pristine, folder)
    with ws.store.read() as session:
        posts = unscheduled_posts(session, count)
    due = ws.clock.now() - timedelta(seconds=1)
    bulk_deliveries(ws, [(post, due) for post in posts])
    return ws


def profile(pristine: Workspace, secret: str, count: int, workers: int) -> None:
    """The engine's claim and send steps in-process: threaded, one by one, then profiled."""
    os.environ[SECRET_ENV] = secret
    log = logging.getLogger("signpost")  # as the daemon logs: every send at INFO, to a file
    log.setLevel(logging.INFO)
    log.addHandler(logging.FileHandler(pristine.settings.path.parent / "engine.log"))
    print(f"\nin-process engine, {count:,} due deliveries each time")
    print(
        f"  {'':<30} {'sent':>6} {'wall':>8} {'rate':>8}  {'in BEGIN':>9} {'in SQL':>7}"
        "  CPU ms a delivery: claim / send / record (threaded run)"
    )
    profiler = cProfile.Profile()
    for label, mode in (
        (f"Engine.run_due, {workers} workers", "threads"),
        ("claim_due, then send one by one", "serial"),
        ("the same, under cProfile", "profiled"),
    ):
        ws = due_now(pristine, pristine.settings.path.parent.with_name(f"profile-{mode}"), count)
        timer = StatementTimer(ws.store.engine)
        with httpx.Client(timeout=30) as client:
            engine = make_engine(ws, client, f"bench:{mode}")
            engine.workers = workers
            split = CpuSplit(engine) if mode == "threads" else None
            start = time.perf_counter()
            if mode == "threads":
                sent = engine.run_due().sent
            else:
                sent = 0
                if mode == "profiled":
                    profiler.enable()
                while claims := engine.claim_due(engine.workers * 4):
                    sent += sum(engine.send(claim).sent for claim in claims)
                profiler.disable()
            seconds = time.perf_counter() - start
        ws.store.close()
        cpu = split.per_delivery(sent) if split else ""
        print(
            f"  {label:<30} {sent:>6} {seconds:>6.2f} s {sent / seconds:>6.0f}/s"
            f"  {timer.begin:>7.2f} s {timer.other:>5.2f} s  {cpu}"
        )
    stats = pstats.Stats(profiler)
    total = sum(tt for _cc, _nc, tt, _ct, _callers in stats.stats.values())
    print(f"\n  where the time goes under cProfile (total {total:.2f} s; cumulative times)")
    for label, suffix, name in STEPS:
        calls, spent = max(
            (
                (nc, ct)
                for (file, _line, func), (_cc, nc, _tt, ct, _callers) in stats.stats.items()
                if func == name and file.endswith(suffix)
            ),
            key=lambda found: found[1],
            default=(0, 0.0),
        )
        print(f"  {label:<48} {calls:>7} calls  {spent:6.2f} s  {spent / total:5.0%}")
    print("\n  the top functions by own time")
    stats.sort_stats("tottime").print_stats(12)
