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

``--database postgresql`` runs only the burst, on a throwaway PostgreSQL cluster that the
script starts itself (initdb as in tests/peers.py, on 127.0.0.1, ``fsync=off``) and always
stops and removes, on an error, Ctrl-C or SIGTERM too. ``--database compare`` runs the burst
with 1 daemon on SQLite and 1, 2 and 3 daemons (``--daemons``) on PostgreSQL, each over a
fresh copy of the same workspace, against the same receiver and the same baseline. For each
configuration it reports throughput and lateness, the exactly-once check and ``audit
verify``, the cores busy during the burst (daemons, PostgreSQL, receiver, whole machine),
what each daemon sent, and how busy the advisory lock that serialises write transactions
was (``pg_locks`` sampled every poll). On PostgreSQL the deliveries are bulk-inserted with
psycopg, with timezone-aware times for the ``timestamptz`` columns.

    .venv/bin/python benchmarks/delivery.py [--deliveries 2000] [--pending 100000] [--profile]
    .venv/bin/python benchmarks/delivery.py --database compare [--daemons 1,2,3]
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
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
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
url = "{db_url}"

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


# --- the databases: SQLite files, or databases on a throwaway PostgreSQL cluster ---------------


class Db:
    """A workspace's database, for the benchmark's own reads and bulk inserts.

    Queries are written with ``?`` placeholders; :meth:`sql` adapts them to the driver.
    """

    postgres = False
    #: ``[database] url`` in the workspace's config.
    url = "sqlite:///signpost.db"

    def sql(self, query: str) -> str:
        return query

    def time(self, moment: datetime) -> Any:
        """A time as a parameter for a DateTime column."""
        return sqlite_time(moment)

    def json(self, value: Any) -> Any:
        """A value as a parameter for a JSON column."""
        return json.dumps(value)

    @contextmanager
    def connect(self) -> Iterator[Any]:
        """A connection in a transaction, committed at the end."""
        raise NotImplementedError

    def one(self, query: str, params: Sequence[Any] = ()) -> tuple:
        with self.connect() as conn:
            return conn.execute(self.sql(query), params).fetchone()

    def all(self, query: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self.connect() as conn:
            return conn.execute(self.sql(query), params).fetchall()

    def after_insert(self, conn: Any) -> None:
        """Bring id sequences up to the ids inserted explicitly."""

    def close(self) -> None:
        pass


class SqliteDb(Db):
    """The SQLite file next to the workspace's config, a new connection each time."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=30)
        try:
            with conn:
                yield conn
        finally:
            conn.close()


class PgDb(Db):
    """One database on the cluster, through one autocommit psycopg connection kept open."""

    postgres = True

    def __init__(self, cluster: PgCluster, name: str) -> None:
        self.cluster, self.name = cluster, name
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{cluster.port}/{name}"
        self._conn: Any = None

    def sql(self, query: str) -> str:
        return query.replace("?", "%s")

    def time(self, moment: datetime) -> Any:
        return moment.astimezone(UTC)  # timestamptz

    def json(self, value: Any) -> Any:
        from psycopg.types.json import Json

        return Json(value)

    @contextmanager
    def connect(self) -> Iterator[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = self.cluster.connect(self.name)
        with self._conn.transaction():
            yield self._conn

    def after_insert(self, conn: Any) -> None:
        for table in ("post", "revision", "delivery"):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
            )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@dataclass
class PgCluster:
    """A throwaway PostgreSQL cluster on loopback (the recipe of tests/peers.py, peers.md §1)."""

    bindir: str
    folder: Path
    port: int
    as_postgres: list[str]

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def run(self, *args: str) -> None:
        done = subprocess.run(
            [*self.as_postgres, *args], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} exited {done.returncode}\n{done.stderr[-2000:]}")

    def connect(self, name: str = "postgres") -> Any:
        import psycopg

        return psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=name, autocommit=True
        )

    def create_database(self, name: str, template: str | None = None) -> None:
        """A new database, empty or a copy of ``template`` (which nobody may be connected to)."""
        with self.connect() as conn:
            conn.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))

    def version(self) -> str:
        with self.connect() as conn:
            return conn.execute("SHOW server_version").fetchone()[0]

    def processes(self) -> list[int]:
        """The postmaster and its children (one backend per connection)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        return [postmaster, *children(postmaster)]


@contextmanager
def pg_cluster() -> Iterator[PgCluster]:
    """initdb, start on 127.0.0.1 with a free port; always stopped and removed at the end."""
    import glob

    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not bins:
        sys.exit("benchmark: no PostgreSQL server (apt-get install -y postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="signpost-bench-pg-", dir="/tmp"))
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(folder, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cluster = PgCluster(str(Path(bins[-1]).parent), folder, port, as_postgres)
    pg_ctl = f"{cluster.bindir}/pg_ctl"
    try:
        cluster.run(
            f"{cluster.bindir}/initdb",
            *("-D", str(cluster.data), "-U", "postgres", "-A", "trust", "--no-sync"),
            *("-E", "UTF8", "--locale=C.UTF-8"),
        )
        cluster.run(
            pg_ctl,
            *("-D", str(cluster.data), "-l", str(folder / "log"), "-w", "-t", "30", "-o"),
            f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off",
            "start",
        )
        yield cluster
    finally:
        try:
            cluster.run(pg_ctl, "-D", str(cluster.data), "-m", "immediate", "-w", "stop")
        except RuntimeError:
            pass  # never started, or already stopped (a Ctrl-C reaches it too)
        shutil.rmtree(folder, ignore_errors=True)


def children(parent: int) -> list[int]:
    """The pids whose parent is ``parent``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="ascii").rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


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


def build_workspace(folder: Path, url: str, env: dict[str, str], db: Db | None = None) -> Path:
    """A config and a database with one campaign and one approved post, all through the CLI.

    The database is ``signpost.db`` next to the config unless ``db`` says otherwise.
    """
    folder.mkdir()
    db = db or SqliteDb(folder / "signpost.db")
    config = write_config(folder, url, db)
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
    run([*base, "post", "approve", str(post["id"]), "--revision", "1", "-f", "json"], env, "bob")
    if not db.postgres:
        with sqlite3.connect(folder / "signpost.db") as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return config


def write_config(folder: Path, url: str, db: Db) -> Path:
    """The workspace's ``config.toml``: the receiver's URL as its one channel, ``db`` its data."""
    folder.mkdir(exist_ok=True)
    config = folder / "config.toml"
    config.write_text(
        CONFIG.format(db_url=db.url, sync=SYNC_INTERVAL, url=f"{url}/hook", secret_env=SECRET_ENV),
        encoding="utf-8",
    )
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


def insert_posts(db: Db, dues: Sequence[datetime]) -> list[str]:
    """One approved post with one pending webhook delivery per due time; their keys."""
    now = CLOCK.now()
    with db.connect() as conn:
        (campaign_id,) = conn.execute("SELECT id FROM campaign").fetchone()
        (last_post,) = conn.execute("SELECT coalesce(max(id), 0) FROM post").fetchone()
        (last_delivery,) = conn.execute("SELECT coalesce(max(id), 0) FROM delivery").fetchone()
        posts, revisions, deliveries, keys = [], [], [], []
        stamp, variants, media = db.time(now), db.json({}), db.json([])
        for i, due in enumerate(dues, start=1):
            post_id, text = last_post + i, post_text(last_post + i)
            digest = Content(text=text, variants={}, link=None, media=()).content_hash()
            key = f"sp-{uuid.uuid4().hex}"
            posts.append((post_id, campaign_id, "alice", 1, "approved", digest, stamp, stamp))
            revisions.append((post_id, 1, "alice", text, variants, None, media, digest, stamp))
            deliveries.append((last_delivery + i, post_id, "hook", db.time(due), key, stamp))
            keys.append(key)
        cursor = conn.cursor()
        cursor.executemany(
            db.sql(
                "INSERT INTO post (id, campaign_id, author, revision, state, approved_hash,"
                " created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            posts,
        )
        cursor.executemany(
            db.sql(
                "INSERT INTO revision (post_id, number, author, text, variants, link, media,"
                " content_hash, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            revisions,
        )
        insert_deliveries(db, conn, deliveries)
    return keys


def insert_pending(db: Db, count: int, first: datetime, last: datetime) -> None:
    """``count`` pending deliveries of the approved post, due evenly from ``first`` to ``last``."""
    now = db.time(CLOCK.now())
    step = (last - first) / max(1, count - 1)
    with db.connect() as conn:
        (post_id,) = conn.execute("SELECT id FROM post WHERE state = 'approved'").fetchone()
        (last_delivery,) = conn.execute("SELECT coalesce(max(id), 0) FROM delivery").fetchone()
        insert_deliveries(
            db,
            conn,
            (
                (
                    last_delivery + 1 + i,
                    post_id,
                    "hook",
                    db.time(first + i * step),
                    f"sp-{uuid.uuid4().hex}",
                    now,
                )
                for i in range(count)
            ),
        )


def insert_deliveries(db: Db, conn: Any, rows: Iterable[tuple]) -> None:
    """Pending deliveries from (id, post id, channel, due, key, created) rows."""
    conn.cursor().executemany(
        db.sql(
            "INSERT INTO delivery (id, post_id, channel, due, state, attempts, idempotency_key,"
            " created, updated) VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?)"
        ),
        ((*row, row[-1]) for row in rows),
    )
    db.after_insert(conn)


# --- the daemon ---------------------------------------------------------------------------------


@contextmanager
def daemon(config: Path, db: Db, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """``signpost daemon`` as a subprocess, once it has synced twice; SIGTERM at the end."""
    with daemons(config, db, env, 1) as (process,):
        yield process


@contextmanager
def daemons(
    config: Path, db: Db, env: dict[str, str], count: int
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` daemons over one database, each with its own log and health port."""
    logs, processes = [], []
    try:
        for n in range(count):
            log = daemon_log_path(config, n).open("ab")
            logs.append(log)
            processes.append(
                subprocess.Popen(
                    [SIGNPOST, "--config", str(config), "daemon"], env=env, stdout=log, stderr=log
                )
            )
        deadline = time.monotonic() + 30 * count
        for process in processes:
            while not beat_seen(db, process.pid):
                if process.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"benchmark: the daemon did not start\n{daemon_log(config)[-2000:]}")
                time.sleep(0.05)
        time.sleep(SYNC_INTERVAL * 2)
        yield processes
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in logs:
            log.close()


def daemon_log_path(config: Path, n: int = 0) -> Path:
    return config.parent / ("daemon.log" if n == 0 else f"daemon-{n + 1}.log")


def beat_seen(db: Db, pid: int) -> bool:
    return db.one("SELECT count(*) FROM heartbeat WHERE pid = ?", (pid,))[0] > 0


def daemon_log(config: Path) -> str:
    """Every daemon's log in the workspace, one after the other."""
    return "".join(
        path.read_text(encoding="utf-8", errors="replace")
        for path in sorted(config.parent.glob("daemon*.log"))
    )


def wait_ended(
    db: Db,
    first_post: int,
    count: int,
    deadline_s: float,
    probe: Callable[[], None] | None = None,
) -> int:
    """Wait until the deliveries of posts from ``first_post`` on have ended; how many did.

    ``probe`` runs at every poll (every 50 ms), to sample what the database is doing.
    """
    deadline = time.monotonic() + deadline_s
    states = ", ".join(f"'{s}'" for s in ENDED)
    query = f"SELECT count(*) FROM delivery WHERE post_id >= ? AND state IN ({states})"
    while True:
        (ended,) = db.one(query, (first_post,))
        if ended >= count or time.monotonic() > deadline:
            return ended
        if probe is not None:
            probe()
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
    by_daemon: tuple[int, ...] = ()  # deliveries sent by each daemon, most first
    cpu: dict[str, float] | None = None  # cores busy from due to the end, by whom
    lock: LockSamples | None = None  # PostgreSQL only: the write lock, sampled

    @property
    def rate(self) -> float:
        return self.count / self.seconds


@dataclass(frozen=True)
class LockSamples:
    """The advisory write lock sampled every poll during a burst on PostgreSQL."""

    samples: int
    held: float  # share of samples in which a transaction held it
    holder_idle: float  # share in which its holder was 'idle in transaction': Python's turn
    waiting: float  # transactions waiting for it, on average


class Sampler:
    """While a burst runs: CPU time of the processes involved, and the write lock's use."""

    LOCKS = (
        "SELECT l.granted, a.state FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
        " WHERE l.locktype = 'advisory'"
    )

    def __init__(self, db: Db, pids: Sequence[int], cluster: PgCluster | None, due: float):
        self.db, self.pids, self.cluster, self.due = db, pids, cluster, due
        self.start: dict[str, Any] | None = None
        self.locks: list[tuple[int, int, int]] = []  # (held, holder idle, waiting)

    def __call__(self) -> None:
        if time.time() < self.due:
            return
        if self.start is None:
            self.start = self.snapshot()
        if self.db.postgres:
            rows = self.db.all(self.LOCKS)
            held = [state for granted, state in rows if granted]
            idle = sum(state == "idle in transaction" for state in held)
            self.locks.append((len(held), idle, len(rows) - len(held)))

    def snapshot(self) -> dict[str, Any]:
        groups = {
            "daemons": self.pids,
            "receiver": [p.pid for p in multiprocessing.active_children() if p.pid],
            "postgresql": self.cluster.processes() if self.cluster else [],
        }
        ticks = {}
        for name, pids in groups.items():
            ticks[name] = {}
            for pid in pids:
                try:
                    ticks[name][pid] = proc_status(pid)["ticks"]
                except (OSError, ValueError, IndexError):
                    pass  # gone meanwhile
        fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        ticks["machine"] = {0: sum(fields) - fields[3] - fields[4]}  # all but idle and iowait
        return {"at": time.monotonic(), "ticks": ticks}

    def finish(self) -> tuple[dict[str, float] | None, LockSamples | None]:
        if self.start is None:
            return None, None
        end, hz = self.snapshot(), os.sysconf("SC_CLK_TCK")
        wall = end["at"] - self.start["at"]
        cpu = {
            name: sum(t - self.start["ticks"][name].get(pid, 0) for pid, t in now.items())
            / hz
            / wall
            for name, now in end["ticks"].items()
        }
        lock = None
        if self.locks:
            n = len(self.locks)
            lock = LockSamples(
                samples=n,
                held=sum(1 for held, _, _ in self.locks if held) / n,
                holder_idle=sum(1 for _, idle, _ in self.locks if idle) / n,
                waiting=sum(waiting for _, _, waiting in self.locks) / n,
            )
        return cpu, lock


def sent_events(db: Db, after_seq: int) -> list[tuple[datetime, dict, str]]:
    """The ``delivery.sent`` audit events after ``after_seq``: time, details and actor."""
    rows = db.all(
        "SELECT time, details, actor FROM audit_event WHERE seq > ? AND action = 'delivery.sent'",
        (after_seq,),
    )
    return [(datetime.fromisoformat(t), json.loads(d), a) for t, d, a in rows]


def head_seq(db: Db) -> int:
    return db.one("SELECT coalesce(max(seq), 0) FROM audit_event")[0]


def burst(
    config: Path,
    db: Db,
    url: str,
    count: int,
    pids: Sequence[int] = (),
    cluster: PgCluster | None = None,
) -> Burst:
    """``count`` deliveries due together, sent by the running daemons (``pids``)."""
    received(url, reset=True)
    (first_post,) = db.one("SELECT coalesce(max(id), 0) + 1 FROM post")
    seq = head_seq(db)
    due = CLOCK.now() + timedelta(seconds=LEAD)
    keys = insert_posts(db, [due] * count)
    sampler = Sampler(db, pids, cluster, due.timestamp())
    ended = wait_ended(db, first_post, count, deadline_s=LEAD + 240, probe=sampler)
    if ended < count:
        sys.exit(f"benchmark: only {ended} of {count} burst deliveries ended within 4 minutes")
    cpu, lock = sampler.finish()
    events = sent_events(db, seq)
    seen = received(url)
    missing = set(keys) - set(seen)
    if len(events) != count or missing:
        sys.exit(f"benchmark: {len(events)} sent events, {len(missing)} keys never received")
    finished = max(t for t, _, _ in events)
    by_daemon: dict[str, int] = {}
    for _, _, actor in events:
        by_daemon[actor] = by_daemon.get(actor, 0) + 1
    return Burst(
        count=count,
        seconds=(finished - due).total_seconds(),
        late=tuple(d["late_seconds"] for _, d, _ in events),
        arrived_late=tuple(min(seen[k]) - due.timestamp() for k in keys),
        distinct=len(seen),
        requests=sum(len(times) for times in seen.values()),
        by_daemon=tuple(sorted(by_daemon.values(), reverse=True)),
        cpu=cpu,
        lock=lock,
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
    db = SqliteDb(config.parent / "signpost.db")
    seq = head_seq(db)
    (first_post,) = db.one("SELECT coalesce(max(id), 0) + 1 FROM post")
    due = CLOCK.now() + timedelta(seconds=LEAD)
    (key,) = insert_posts(db, [due])
    if wait_ended(db, first_post, 1, deadline_s=LEAD + 30) != 1:
        sys.exit("benchmark: a single delivery did not end within 30 s")
    seen = received(url, reset=True)
    ((_time, details, _actor),) = sent_events(db, seq)
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
    with daemon(config, SqliteDb(config.parent / "signpost.db"), env) as process:
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
        insert_posts(
            SqliteDb(copy.parent / "signpost.db"), [CLOCK.now() - timedelta(seconds=1)] * count
        )
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


# --- PostgreSQL, and several daemons --------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One configuration's burst: which database, how many daemons, and what it gave."""

    database: str
    daemons: int
    burst: Burst
    events: int  # audit events that ``audit verify`` checked

    @property
    def label(self) -> str:
        return label(self.database, self.daemons)


def label(database: str, daemons: int) -> str:
    return f"{database}, {daemons} daemon{'s' if daemons > 1 else ''}"


def stop_on_sigterm() -> None:
    """A SIGTERM unwinds like Ctrl-C does, so the cluster and the daemons are stopped."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("benchmark: stopped by SIGTERM"))


def postgres_runs(args: argparse.Namespace) -> int:
    """``--database postgresql`` or ``compare``: bursts on a throwaway PostgreSQL cluster."""
    import psycopg

    from scheduler.delivery import Engine

    stop_on_sigterm()
    compare = args.database == "compare"
    counts = args.daemons or ([1, 2, 3] if compare else [1])
    configurations = ([("SQLite", 1)] if compare else []) + [("PostgreSQL", n) for n in counts]
    workers = Engine.workers
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    env = clean_env(secret)
    began = time.perf_counter()
    runs: list[Run] = []
    with (
        receiver() as url,
        tempfile.TemporaryDirectory(prefix="signpost-bench-") as tmp,
        pg_cluster() as cluster,
    ):
        print(
            f"signpost delivery benchmark: a burst of {args.deliveries:,}, on "
            + "; ".join(label(kind, n) for kind, n in configurations)
            + f"; engine workers {workers}; PostgreSQL {cluster.version()}"
            f" (fsync off), psycopg {psycopg.__version__}; Python {sys.version.split()[0]},"
            f" {os.cpu_count()} CPUs"
        )
        folder = Path(tmp)
        sqlite_config = build_workspace(folder / "sqlite", url, env) if compare else None
        cluster.create_database("bench")
        build_workspace(folder / "postgresql", url, env, PgDb(cluster, "bench"))
        print(f"workspaces built by the CLI in {time.perf_counter() - began:.1f} s")

        base_runs = [baseline(url, args.deliveries, workers, secret) for _ in range(args.rounds)]
        base_seconds = statistics.median(base_runs)
        for i, (kind, n) in enumerate(configurations):
            db: Db
            if kind == "SQLite" and sqlite_config is not None:
                config, db = sqlite_config, SqliteDb(sqlite_config.parent / "signpost.db")
            else:  # a fresh copy of the workspace's database for each configuration
                cluster.create_database(f"run_{i}", template="bench")
                db = PgDb(cluster, f"run_{i}")
                config = write_config(folder / f"run-{i}", url, db)
            try:
                with daemons(config, db, env, n) as processes:
                    result = burst(
                        config,
                        db,
                        url,
                        args.deliveries,
                        [process.pid for process in processes],
                        cluster if db.postgres else None,
                    )
            finally:
                db.close()
            check_log(config)
            verdict = verify_audit(config, env)
            runs.append(Run(kind, n, result, verdict["events"]))
            print(
                f"{runs[-1].label}: {result.rate:,.0f} /s; audit verify passed over"
                f" {verdict['events']:,} events"
            )
    report_runs(runs, args.deliveries, base_seconds, args.rounds, workers)
    print(f"\ntotal {time.perf_counter() - began:.1f} s")
    return 0


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print rows under headers, the first column left-aligned and the others right."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        cells = [f"{row[0]:<{widths[0]}}"]
        cells += [f"{cell:>{width}}" for cell, width in zip(row[1:], widths[1:], strict=True)]
        print("  ".join(cells).rstrip())


def seconds(value: float) -> str:
    return f"{value:.2f} s"


def report_runs(
    runs: Sequence[Run], count: int, base_seconds: float, rounds: int, workers: int
) -> None:
    """Each configuration's throughput, lateness, checks, CPU and write lock; the goals."""
    base_rate = count / base_seconds
    print(
        f"\nbaseline: httpx.AsyncClient, {workers} at a time (median of {rounds}):"
        f" {base_seconds:.2f} s, {base_rate:,.0f} /s"
    )
    print(f"\nburst of {count:,}: due → last recorded sent; lateness due → sent (audit)")
    table(
        (
            "configuration",
            "time",
            "rate",
            "vs baseline",
            "late p50",
            "late p99",
            "received p50",
            "received p99",
            "ids / requests",
            "audit verify",
        ),
        [
            (
                run.label,
                seconds(run.burst.seconds),
                f"{run.burst.rate:,.0f} /s",
                f"{run.burst.rate / base_rate:.2f}x",
                seconds(statistics.median(run.burst.late)),
                seconds(percentile(run.burst.late, 99)),
                seconds(statistics.median(run.burst.arrived_late)),
                seconds(percentile(run.burst.arrived_late, 99)),
                f"{run.burst.distinct:,} / {run.burst.requests:,}",
                f"ok, {run.events:,} events",
            )
            for run in runs
        ],
    )
    print("\nduring the burst: cores busy (due → end) and the write lock, sampled every poll")

    def cores(run: Run, name: str) -> str:
        return "-" if run.burst.cpu is None else f"{run.burst.cpu.get(name, 0.0):.2f}"

    table(
        (
            "configuration",
            "daemons",
            "PostgreSQL",
            "receiver",
            "whole machine",
            "lock held",
            "holder in Python",
            "waiting",
            "sent by each daemon",
        ),
        [
            (
                run.label,
                cores(run, "daemons"),
                cores(run, "postgresql") if run.database == "PostgreSQL" else "-",
                cores(run, "receiver"),
                cores(run, "machine"),
                f"{run.burst.lock.held:.0%}" if run.burst.lock else "-",
                f"{run.burst.lock.holder_idle:.0%}" if run.burst.lock else "-",
                f"{run.burst.lock.waiting:.2f}" if run.burst.lock else "-",
                " / ".join(f"{n:,}" for n in run.burst.by_daemon),
            )
            for run in runs
        ],
    )
    print(
        "  (lock held: share of samples in which a transaction held the advisory lock;"
        " holder in Python:\n  share in which its backend sat 'idle in transaction', waiting"
        " for the daemon; waiting:\n  transactions queued on the lock, on average)"
    )
    print()
    table(
        ("goal", *(run.label for run in runs)),
        [
            (
                "throughput at least 0.8x the baseline",
                *(_met(r.burst.rate / base_rate >= 0.8) for r in runs),
            ),
            (
                "lateness p99 under 2 s",
                *(_met(percentile(r.burst.late, 99) < 2) for r in runs),
            ),
            (
                "every delivery received exactly once",
                *(_met(r.burst.distinct == r.burst.requests == count) for r in runs),
            ),
        ],
    )


def _met(met: bool) -> str:
    return "yes" if met else "NO"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=2000, help="deliveries in the burst")
    parser.add_argument(
        "--pending", type=int, default=100_000, help="pending deliveries for the idle run"
    )
    parser.add_argument("--singles", type=int, default=5, help="single deliveries timed")
    parser.add_argument("--rounds", type=int, default=3, help="baseline runs (median taken)")
    parser.add_argument("--profile", action="store_true", help="also profile the engine in-process")
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgresql", "compare"),
        default="sqlite",
        help="sqlite: burst, idle and singles on SQLite (the default); postgresql: the burst"
        " on a throwaway PostgreSQL cluster; compare: the burst on SQLite with 1 daemon and"
        " on PostgreSQL with 1, 2 and 3",
    )
    parser.add_argument(
        "--daemons",
        type=lambda text: [int(n) for n in text.split(",")],
        help="daemon counts to run on PostgreSQL, comma-separated (default: 1, or 1,2,3 with"
        " compare)",
    )
    args = parser.parse_args(argv)
    if args.deliveries < 2 or args.pending < 1 or args.singles < 1 or args.rounds < 1:
        parser.error("need --deliveries >= 2, --pending >= 1, --singles >= 1 and --rounds >= 1")
    if args.daemons and (args.database == "sqlite" or min(args.daemons) < 1):
        parser.error("--daemons needs --database postgresql or compare, and counts >= 1")
    if args.database != "sqlite":
        return postgres_runs(args)
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
        db = SqliteDb(config.parent / "signpost.db")
        with daemon(config, db, env) as process:
            result = burst(config, db, url, args.deliveries, [process.pid])
        check_log(config)
        verdict = verify_audit(config, env)
        print(f"burst done; audit verify passed over {verdict['events']:,} events")

        watch = SYNC_INTERVAL * 6
        empty = idle(pending_config, env, url, watch, args.singles)
        soon = CLOCK.now() + timedelta(minutes=10)
        insert_pending(
            SqliteDb(pending_config.parent / "signpost.db"),
            args.pending,
            soon,
            soon + timedelta(weeks=4),
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
