"""Delivery benchmarks of ``signpost daemon``, each against a baseline measured in the same run.

The real daemon runs as a subprocess (``signpost --config X daemon``, as systemd runs it) and
publishes to a loopback webhook receiver in a process of its own: a raw asyncio HTTP/1.1
server that answers 204 and records when each ``webhook-id`` arrived. Two scenarios:

- **burst**: ``--deliveries`` approved deliveries (one per post) fall due at the same instant
  while the daemon idles. Throughput, from due until the last ``delivery.sent`` is recorded,
  is compared with a plain ``httpx.AsyncClient`` loop that signs and sends the same number
  of requests of the same shape to the same receiver, as many at a time as the engine has
  workers (goal: at least 0.8x). Lateness from due to sent, from the audit log's
  ``late_seconds`` (goal: p99 under 2 s). Every delivery must reach the receiver exactly
  once and ``signpost audit verify`` must pass;
- **idle**: the daemon over a database with no deliveries, then over ``--pending`` pending
  deliveries spread over the next four weeks (it keeps only the next hour on its wake-up
  calendar). Its resident memory (``VmRSS``) against the empty database's (goal: under
  300 MB) and its CPU use while it syncs; then ``--singles`` times, one delivery due a
  moment ahead, and its lateness from due to receipt at the receiver (goal: under 50 ms,
  every time).

The workspace is made by the CLI (``init``, ``campaign add``, then ``post add``, ``submit``
and ``approve`` as alice and bob) in a temporary folder that is removed afterwards; the posts,
revisions and deliveries of each scenario are bulk-inserted with sqlite3 as they would be
stored (approved, ``pending``, keys ``sp-<hex>``). ``--profile`` adds an in-process run of the
engine's claim and send steps under cProfile, to show where a delivery's time goes. This is
a script, not a test: it reports, and exits 0 whether or not a goal is met
(docs/benchmarks.md).

    .venv/bin/python benchmarks/delivery.py [--deliveries 2000] [--pending 100000] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import json
import logging
import multiprocessing
import os
import pstats
import secrets
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

from posts.rules import Content
from scheduler.clock import SystemClock

SIGNPOST = str(Path(sys.executable).with_name("signpost"))
SECRET_ENV = "SIGNPOST_BENCH_WEBHOOK_SECRET"
CAMPAIGN = "stop-it-now"
HELPLINE = "0808 1000 900"
SYNC_INTERVAL = 0.5
#: Seconds between inserting a scenario's deliveries and their due time: a few syncs.
LEAD = 2.0
ENDED = ("sent", "failed", "missed", "uncertain", "cancelled")
CLOCK = SystemClock()

CONFIG = """\
[database]
url = "sqlite:///signpost.db"

[daemon]
sync_interval = {sync}
health = "127.0.0.1:0"

[security]
allow_actor_override = true

[approval]
required = 1
roles = ["approver"]

[users.alice]
roles = ["author"]

[users.bob]
roles = ["approver"]

[channels.hook]
type = "webhook"
url = "{url}"
token_env = "{secret_env}"
"""


# --- the receiver, in a process of its own ----------------------------------------------------


def serve_receiver(conn: Connection) -> None:
    """Run the loopback webhook endpoint until terminated; send its port through ``conn``."""
    asyncio.run(_receive(conn))


async def _receive(conn: Connection) -> None:
    """POST: 204 and note the time of each ``webhook-id``; GET /stats: them as JSON; /reset."""
    seen: dict[str, list[float]] = {}

    def answer(writer: asyncio.StreamWriter, status: str, body: bytes = b"") -> None:
        length = f"Content-Length: {len(body)}\r\n" if body else ""
        writer.write(f"HTTP/1.1 {status}\r\n{length}\r\n".encode() + body)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                arrived = time.time()
                request, *lines = head.decode("latin-1").split("\r\n")
                method, path, _version = request.split(" ", 2)
                headers = {}
                for line in lines:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                if length:
                    await reader.readexactly(length)
                if method == "POST" and headers.get("webhook-signature", "").startswith("v1,"):
                    seen.setdefault(headers.get("webhook-id", ""), []).append(arrived)
                    answer(writer, "204 No Content")
                elif method == "GET" and path == "/stats":
                    answer(writer, "200 OK", json.dumps(seen).encode())
                elif method == "GET" and path == "/reset":
                    seen.clear()
                    answer(writer, "204 No Content")
                else:
                    answer(writer, "400 Bad Request", b"unsigned or unknown request\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    conn.send(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


@contextmanager
def receiver() -> Iterator[str]:
    """The receiver's base URL while it runs in a child process."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=serve_receiver, args=(theirs,), daemon=True)
    process.start()
    try:
        if not ours.poll(30):
            sys.exit("benchmark: the webhook receiver did not start")
        yield f"http://127.0.0.1:{ours.recv()}"
    finally:
        process.terminate()
        process.join(10)


def received(url: str, reset: bool = False) -> dict[str, list[float]]:
    """What the receiver has seen: ``webhook-id`` → arrival times (Unix seconds)."""
    seen = httpx.get(f"{url}/stats", timeout=30).json()
    if reset:
        httpx.get(f"{url}/reset", timeout=30)
    return seen


# --- the workspace ------------------------------------------------------------------------------


def clean_env(secret: str) -> dict[str, str]:
    """The environment without any Signpost variable, plus the webhook's secret."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNPOST_")}
    env[SECRET_ENV] = secret
    return env


def run(argv: Sequence[str], env: dict[str, str], actor: str) -> str:
    """Run a signpost command as ``actor``; stop the benchmark if it fails; its stdout."""
    done = subprocess.run(
        argv, env={**env, "SIGNPOST_ACTOR": actor}, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"benchmark: {' '.join(argv)} exited {done.returncode}\n{done.stderr[-2000:]}")
    return done.stdout


def build_workspace(folder: Path, url: str, env: dict[str, str]) -> Path:
    """A config and a database with one campaign and one approved post, all through the CLI."""
    folder.mkdir()
    config = folder / "config.toml"
    config.write_text(
        CONFIG.format(sync=SYNC_INTERVAL, url=f"{url}/hook", secret_env=SECRET_ENV),
        encoding="utf-8",
    )
    base = [SIGNPOST, "--config", str(config)]
    run([*base, "init"], env, "alice")
    run(
        [*base, "campaign", "add", CAMPAIGN, "--name", "Stop It Now", "--must-include", HELPLINE],
        env,
        "alice",
    )
    text = post_text(0)
    post = json.loads(
        run(
            [*base, "post", "add", "--campaign", CAMPAIGN, "--text", text, "-f", "json"],
            env,
            "alice",
        )
    )
    run([*base, "post", "submit", str(post["id"]), "-f", "json"], env, "alice")
    run([*base, "post", "approve", str(post["id"]), "-f", "json"], env, "bob")
    with sqlite3.connect(folder / "signpost.db") as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return config


def copy_workspace(config: Path, folder: Path) -> Path:
    """A second workspace in ``folder``: the same config and a copy of the database."""
    shutil.copytree(config.parent, folder)
    return folder / "config.toml"


def sqlite_time(moment: datetime) -> str:
    """A UTC time as SQLAlchemy stores a DateTime column in SQLite."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def post_text(n: int) -> str:
    """A plausible post, different for every ``n``."""
    return (
        f"Worried about your own online behaviour? Message {n}: confidential, non-judgemental"
        f" help is one call away on {HELPLINE}, or chat online."
    )


def insert_posts(db: Path, dues: Sequence[datetime]) -> list[str]:
    """One approved post with one pending webhook delivery per due time; their keys."""
    now = CLOCK.now()
    with sqlite3.connect(db, timeout=30) as conn:
        (campaign_id,) = conn.execute("SELECT id FROM campaign").fetchone()
        (last_post,) = conn.execute("SELECT coalesce(max(id), 0) FROM post").fetchone()
        (last_delivery,) = conn.execute("SELECT coalesce(max(id), 0) FROM delivery").fetchone()
        posts, revisions, deliveries, keys = [], [], [], []
        for i, due in enumerate(dues, start=1):
            post_id, text = last_post + i, post_text(last_post + i)
            digest = Content(text=text, variants={}, link=None, media=()).content_hash()
            stamp = sqlite_time(now)
            key = f"sp-{uuid.uuid4().hex}"
            posts.append((post_id, campaign_id, "alice", 1, "approved", digest, stamp, stamp))
            revisions.append((post_id, 1, "alice", text, "{}", None, "[]", digest, stamp))
            deliveries.append((last_delivery + i, post_id, "hook", sqlite_time(due), key, stamp))
            keys.append(key)
        conn.executemany(
            "INSERT INTO post (id, campaign_id, author, revision, state, approved_hash, created,"
            " updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            posts,
        )
        conn.executemany(
            "INSERT INTO revision (post_id, number, author, text, variants, link, media,"
            " content_hash, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            revisions,
        )
        insert_deliveries(conn, deliveries)
    return keys


def insert_pending(db: Path, count: int, first: datetime, last: datetime) -> None:
    """``count`` pending deliveries of the approved post, due evenly from ``first`` to ``last``."""
    now = sqlite_time(CLOCK.now())
    step = (last - first) / max(1, count - 1)
    with sqlite3.connect(db, timeout=30) as conn:
        (post_id,) = conn.execute("SELECT id FROM post WHERE state = 'approved'").fetchone()
        insert_deliveries(
            conn,
            (
                (
                    None,
                    post_id,
                    "hook",
                    sqlite_time(first + i * step),
                    f"sp-{uuid.uuid4().hex}",
                    now,
                )
                for i in range(count)
            ),
        )


def insert_deliveries(conn: sqlite3.Connection, rows: Iterable[tuple]) -> None:
    """Pending deliveries from (id or None, post id, channel, due, key, created) rows."""
    conn.executemany(
        "INSERT INTO delivery (id, post_id, channel, due, state, attempts, idempotency_key,"
        " created, updated) VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?6, ?6)",
        rows,
    )


# --- the daemon ---------------------------------------------------------------------------------


@contextmanager
def daemon(config: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """``signpost daemon`` as a subprocess, once it has synced twice; SIGTERM at the end."""
    log = (config.parent / "daemon.log").open("ab")
    process = subprocess.Popen(
        [SIGNPOST, "--config", str(config), "daemon"], env=env, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 30
        db = config.parent / "signpost.db"
        while not beat_seen(db, process.pid):
            if process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"benchmark: the daemon did not start\n{daemon_log(config)[-2000:]}")
            time.sleep(0.05)
        time.sleep(SYNC_INTERVAL * 2)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def beat_seen(db: Path, pid: int) -> bool:
    with sqlite3.connect(db, timeout=30) as conn:
        return (
            conn.execute("SELECT count(*) FROM heartbeat WHERE pid = ?", (pid,)).fetchone()[0] > 0
        )


def daemon_log(config: Path) -> str:
    return (config.parent / "daemon.log").read_text(encoding="utf-8", errors="replace")


def wait_ended(db: Path, first_post: int, count: int, deadline_s: float) -> int:
    """Wait until the deliveries of posts from ``first_post`` on have ended; how many did."""
    deadline = time.monotonic() + deadline_s
    states = ", ".join(f"'{s}'" for s in ENDED)
    query = f"SELECT count(*) FROM delivery WHERE post_id >= ? AND state IN ({states})"
    while True:
        with sqlite3.connect(db, timeout=30) as conn:
            (ended,) = conn.execute(query, (first_post,)).fetchone()
        if ended >= count or time.monotonic() > deadline:
            return ended
        time.sleep(0.05)


def proc_status(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` in kB, and the CPU time so far in clock ticks."""
    status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    values = {
        line.split(":")[0]: int(line.split()[1])
        for line in status.splitlines()
        if line.startswith(("VmRSS:", "VmHWM:"))
    }
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rpartition(")")[2].split()
    values["ticks"] = int(fields[11]) + int(fields[12])  # utime + stime
    return values


# --- the scenarios -----------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


@dataclass(frozen=True)
class Burst:
    """One burst: how long it took to deliver, and how late each delivery was."""

    count: int
    seconds: float
    late: tuple[float, ...]  # due → sent, from the audit log
    arrived_late: tuple[float, ...]  # due → received
    distinct: int
    requests: int

    @property
    def rate(self) -> float:
        return self.count / self.seconds


def sent_events(db: Path, after_seq: int) -> list[tuple[datetime, dict]]:
    """The ``delivery.sent`` audit events after ``after_seq``: time and details."""
    with sqlite3.connect(db, timeout=30) as conn:
        rows = conn.execute(
            "SELECT time, details FROM audit_event WHERE seq > ? AND action = 'delivery.sent'",
            (after_seq,),
        ).fetchall()
    return [(datetime.fromisoformat(t), json.loads(d)) for t, d in rows]


def head_seq(db: Path) -> int:
    with sqlite3.connect(db, timeout=30) as conn:
        return conn.execute("SELECT coalesce(max(seq), 0) FROM audit_event").fetchone()[0]


def burst(config: Path, url: str, count: int) -> Burst:
    """``count`` deliveries due together, sent by the running daemon."""
    db = config.parent / "signpost.db"
    received(url, reset=True)
    with sqlite3.connect(db) as conn:
        (first_post,) = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM post").fetchone()
    seq = head_seq(db)
    due = CLOCK.now() + timedelta(seconds=LEAD)
    keys = insert_posts(db, [due] * count)
    ended = wait_ended(db, first_post, count, deadline_s=LEAD + 240)
    if ended < count:
        sys.exit(f"benchmark: only {ended} of {count} burst deliveries ended within 4 minutes")
    events = sent_events(db, seq)
    seen = received(url)
    missing = set(keys) - set(seen)
    if len(events) != count or missing:
        sys.exit(f"benchmark: {len(events)} sent events, {len(missing)} keys never received")
    finished = max(t for t, _ in events)
    return Burst(
        count=count,
        seconds=(finished - due).total_seconds(),
        late=tuple(d["late_seconds"] for _, d in events),
        arrived_late=tuple(min(seen[k]) - due.timestamp() for k in keys),
        distinct=len(seen),
        requests=sum(len(times) for times in seen.values()),
    )


async def _send_all(url: str, count: int, concurrency: int, secret: str) -> None:
    """The baseline: sign and POST ``count`` webhook events, ``concurrency`` at a time."""
    from standardwebhooks import Webhook

    signer = Webhook(secret)
    todo = iter(range(1, count + 1))

    async def worker(client: httpx.AsyncClient) -> None:
        for n in todo:
            now = CLOCK.now()
            key = f"sp-{uuid.uuid4().hex}"
            event = {
                "type": "post.published",
                "timestamp": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
                "data": {
                    "post": n,
                    "delivery": n,
                    "campaign": CAMPAIGN,
                    "text": post_text(n),
                    "link": None,
                    "media": [],
                },
            }
            body = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
            headers = {
                "content-type": "application/json",
                "webhook-id": key,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": signer.sign(key, now, body),
            }
            response = await client.post(
                f"{url}/hook", content=body.encode("utf-8"), headers=headers, timeout=30
            )
            if response.status_code != 204:
                sys.exit(f"benchmark: the receiver answered {response.status_code}")

    async with httpx.AsyncClient() as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))


def baseline(url: str, count: int, concurrency: int, secret: str) -> float:
    """Seconds for the plain httpx loop to send ``count`` events; checks they all arrived."""
    received(url, reset=True)
    start = time.perf_counter()
    asyncio.run(_send_all(url, count, concurrency, secret))
    seconds = time.perf_counter() - start
    seen = received(url, reset=True)
    if len(seen) != count:
        sys.exit(f"benchmark: the baseline's {count} events reached the receiver {len(seen)} times")
    return seconds


def single(config: Path, url: str) -> tuple[float, float]:
    """One delivery due a moment ahead: seconds late at the receiver, and as recorded."""
    db = config.parent / "signpost.db"
    seq = head_seq(db)
    with sqlite3.connect(db) as conn:
        (first_post,) = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM post").fetchone()
    due = CLOCK.now() + timedelta(seconds=LEAD)
    (key,) = insert_posts(db, [due])
    if wait_ended(db, first_post, 1, deadline_s=LEAD + 30) != 1:
        sys.exit("benchmark: a single delivery did not end within 30 s")
    seen = received(url, reset=True)
    ((_time, details),) = sent_events(db, seq)
    return min(seen[key]) - due.timestamp(), details["late_seconds"]


@dataclass(frozen=True)
class Idle:
    """The idle daemon over one database: its memory, its CPU use, and single deliveries."""

    rss_kb: int
    peak_kb: int
    cpu: float  # CPU seconds per second of wall time while idle
    late: tuple[float, ...]  # due → received, one delivery at a time
    recorded: tuple[float, ...]  # due → sent, as the audit log says


def idle(config: Path, env: dict[str, str], url: str, watch_s: float, singles: int) -> Idle:
    """Start the daemon, let it sync for ``watch_s`` s, read /proc, then time single posts."""
    with daemon(config, env) as process:
        before, start = proc_status(process.pid), time.monotonic()
        time.sleep(watch_s)
        after, elapsed = proc_status(process.pid), time.monotonic() - start
        runs = [single(config, url) for _ in range(singles)]
    check_log(config)
    ticks = os.sysconf("SC_CLK_TCK")
    return Idle(
        rss_kb=after["VmRSS"],
        peak_kb=after["VmHWM"],
        cpu=(after["ticks"] - before["ticks"]) / ticks / elapsed,
        late=tuple(late for late, _ in runs),
        recorded=tuple(recorded for _, recorded in runs),
    )


def check_log(config: Path) -> None:
    """Stop if the daemon logged an error or a traceback."""
    errors = [
        line
        for line in daemon_log(config).splitlines()
        if " ERROR " in line or line.startswith("Traceback")
    ]
    if errors:
        sys.exit("benchmark: the daemon logged errors:\n" + "\n".join(errors[:10]))


def verify_audit(config: Path, env: dict[str, str]) -> dict:
    verdict = json.loads(
        run([SIGNPOST, "--config", str(config), "audit", "verify", "-f", "json"], env, "alice")
    )
    if not verdict["ok"]:
        sys.exit(f"benchmark: audit verify failed after the burst: {verdict}")
    return verdict


# --- profiling in-process -------------------------------------------------------------------------

#: (label, file suffix, function) of the steps whose cumulative time the profile reports.
STEPS = (
    ("Engine.claim_due (one transaction per batch)", "scheduler/delivery.py", "claim_due"),
    ("Engine.send, all told", "scheduler/delivery.py", "send"),
    ("  WebhookChannel.publish", "channels/webhook.py", "publish"),
    ("    httpx.Client.post", "httpx/_client.py", "post"),
    ("  Engine._finish (one transaction per delivery)", "scheduler/delivery.py", "_finish"),
    ("    posts.holds.settle_post", "posts/holds.py", "settle_post"),
    ("audit.record (every event)", "posts/audit.py", "record"),
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


def profile(config: Path, secret: str, count: int, workers: int) -> None:
    """The engine's claim and send steps in-process: threaded, one by one, then profiled."""
    from scheduler.workspace import Workspace, make_engine

    os.environ[SECRET_ENV] = secret
    log = logging.getLogger("signpost")  # as the daemon logs: every send at INFO, to a file
    log.setLevel(logging.INFO)
    log.addHandler(logging.FileHandler(config.parent / "engine.log"))
    print(f"\nin-process engine, {count:,} due deliveries each time")
    print(f"  {'':<30} {'sent':>6} {'wall':>8} {'rate':>8}  {'in BEGIN':>9} {'in SQL':>7}")
    profiler = cProfile.Profile()
    for label, mode in (
        (f"Engine.run_due, {workers} workers", "threads"),
        ("claim_due, then send one by one", "serial"),
        ("the same, under cProfile", "profiled"),
    ):
        copy = copy_workspace(config, config.parent.with_name(f"profile-{mode}"))
        insert_posts(copy.parent / "signpost.db", [CLOCK.now() - timedelta(seconds=1)] * count)
        ws = Workspace.open(copy)
        timer = StatementTimer(ws.store.engine)
        with httpx.Client(timeout=30) as client:
            engine = make_engine(ws, client, f"bench:{mode}")
            engine.workers = workers
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
        print(
            f"  {label:<30} {sent:>6} {seconds:>6.2f} s {sent / seconds:>6.0f}/s"
            f"  {timer.begin:>7.2f} s {timer.other:>5.2f} s"
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


# --- reporting ------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def report(
    figures: Sequence[tuple[str, str]],
    ratios: Sequence[tuple[str, float]],
    goals: Sequence[tuple[str, str, bool]],
) -> None:
    """Print the figures, the ratios to their baselines and the goals."""
    width = max(len(label) for label, _ in figures)
    print(f"\n{'figure':<{width}}  measured")
    for label, value in figures:
        print(f"{label:<{width}}  {value}")
    width = max(len(label) for label, _ in ratios)
    print("\nratio")
    for label, ratio in ratios:
        print(f"{label:<{width}}  {ratio:6.2f}x")
    width = max(len(goal) for goal, _, _ in goals)
    print(f"\n{'goal':<{width}}  {'measured':>10}  met")
    for goal, measured, met in goals:
        print(f"{goal:<{width}}  {measured:>10}  {'yes' if met else 'NO'}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=2000, help="deliveries in the burst")
    parser.add_argument(
        "--pending", type=int, default=100_000, help="pending deliveries for the idle run"
    )
    parser.add_argument("--singles", type=int, default=5, help="single deliveries timed")
    parser.add_argument("--rounds", type=int, default=3, help="baseline runs (median taken)")
    parser.add_argument("--profile", action="store_true", help="also profile the engine in-process")
    args = parser.parse_args(argv)
    if args.deliveries < 2 or args.pending < 1 or args.singles < 1 or args.rounds < 1:
        parser.error("need --deliveries >= 2, --pending >= 1, --singles >= 1 and --rounds >= 1")
    from scheduler.delivery import Engine

    workers = Engine.workers
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    env = clean_env(secret)
    print(
        f"signpost delivery benchmark: a burst of {args.deliveries:,}; {args.singles} single"
        f" deliveries over an empty database and over {args.pending:,} pending; engine workers"
        f" {workers};"
        f" Python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    began = time.perf_counter()
    with receiver() as url, tempfile.TemporaryDirectory(prefix="signpost-bench-") as tmp:
        config = build_workspace(Path(tmp) / "burst", url, env)
        pending_config = copy_workspace(config, Path(tmp) / "pending")
        pristine = copy_workspace(config, Path(tmp) / "pristine")
        print(f"workspace built by the CLI in {time.perf_counter() - began:.1f} s")

        base_runs = [baseline(url, args.deliveries, workers, secret) for _ in range(args.rounds)]
        base_seconds = statistics.median(base_runs)
        with daemon(config, env):
            result = burst(config, url, args.deliveries)
        check_log(config)
        verdict = verify_audit(config, env)
        print(f"burst done; audit verify passed over {verdict['events']:,} events")

        watch = SYNC_INTERVAL * 6
        empty = idle(pending_config, env, url, watch, args.singles)
        soon = CLOCK.now() + timedelta(minutes=10)
        insert_pending(
            pending_config.parent / "signpost.db", args.pending, soon, soon + timedelta(weeks=4)
        )
        full = idle(pending_config, env, url, watch, args.singles)
        print(f"idle daemon measured over an empty database and over {args.pending:,} pending")
        if args.profile:
            profile(pristine, secret, args.deliveries, workers)

    base_rate = args.deliveries / base_seconds
    late_p50, late_p99 = statistics.median(result.late), percentile(result.late, 99)
    arrived_p50 = statistics.median(result.arrived_late)
    arrived_p99 = percentile(result.arrived_late, 99)
    pending = f"{args.pending:,} pending"
    figures = [
        (
            f"baseline: httpx.AsyncClient, {workers} at a time (median of {args.rounds})",
            f"{base_seconds:.2f} s, {base_rate:,.0f} /s",
        ),
        (
            "burst: signpost daemon, due → last recorded sent",
            f"{result.seconds:.2f} s, {result.rate:,.0f} /s",
        ),
        (
            "burst: lateness due → sent (audit) p50 / p99 / max",
            f"{ms(late_p50)} / {ms(late_p99)} / {ms(max(result.late))}",
        ),
        ("burst: lateness due → received p50 / p99", f"{ms(arrived_p50)} / {ms(arrived_p99)}"),
        (
            "burst: distinct webhook-ids / requests received",
            f"{result.distinct:,} / {result.requests:,}",
        ),
    ]
    for label, run_ in (("empty database", empty), (pending, full)):
        figures += [
            (f"single, {label}: due → received", ", ".join(ms(s) for s in run_.late)),
            (f"single, {label}: due → sent (audit)", ", ".join(ms(s) for s in run_.recorded)),
            (
                f"daemon VmRSS, {label}",
                f"{run_.rss_kb / 1024:.1f} MB (peak {run_.peak_kb / 1024:.1f} MB)",
            ),
            (f"daemon CPU while idle, {label}", f"{run_.cpu:.1%} of a core"),
        ]
    ratios = [
        ("burst throughput: signpost / httpx baseline", result.rate / base_rate),
        (f"VmRSS: {pending} / empty database", full.rss_kb / empty.rss_kb),
        (f"idle CPU: {pending} / empty database", full.cpu / max(empty.cpu, 1e-9)),
    ]
    exactly_once = result.distinct == result.requests == args.deliveries
    goals = [
        (
            "burst throughput at least 0.8x the baseline",
            f"{ratios[0][1]:.2f}x",
            ratios[0][1] >= 0.8,
        ),
        ("burst lateness p99 under 2 s", f"{late_p99:.2f} s", late_p99 < 2),
        ("burst: every delivery received exactly once", f"{result.distinct:,}", exactly_once),
        ("single lateness under 50 ms, every run", ms(max(empty.late)), max(empty.late) < 0.05),
        (
            f"  the same, with {pending}",
            ms(max(full.late)),
            max(full.late) < 0.05,
        ),
        (
            f"VmRSS under 300 MB with {pending}",
            f"{full.rss_kb / 1024:.0f} MB",
            full.rss_kb < 300 * 1024,
        ),
    ]
    report(figures, ratios, goals)
    print(f"\ntotal {time.perf_counter() - began:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
