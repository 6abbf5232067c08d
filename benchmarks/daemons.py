"""``signpost daemon`` processes for the delivery benchmark, and what they leave in the database.

Every read goes through SQLAlchemy Core on the models' tables, on the workspace's own
``posts.store.Store``, so the same code reads SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from benchmarks.workspace import SIGNPOST, signpost
from posts.models import AuditEvent, Delivery, Heartbeat
from scheduler.workspace import Workspace

SYNC_INTERVAL = 0.5
ENDED = ("sent", "failed", "missed", "uncertain", "cancelled")


@contextmanager
def daemon(ws: Workspace, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """``signpost daemon`` as a subprocess, once it has synced twice; SIGTERM at the end."""
    with daemons(ws, env, 1) as (process,):
        yield process


@contextmanager
def daemons(
    ws: Workspace, env: dict[str, str], count: int
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` daemons over one database, each with its own log and health port."""
    config = ws.settings.path
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
            while not beat_seen(ws, process.pid):
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


def daemon_log(config: Path) -> str:
    """Every daemon's log in the workspace, one after the other."""
    return "".join(
        path.read_text(encoding="utf-8", errors="replace")
        for path in sorted(config.parent.glob("daemon*.log"))
    )


def check_log(ws: Workspace) -> None:
    """Stop if a daemon logged an error or a traceback."""
    errors = [
        line
        for line in daemon_log(ws.settings.path).splitlines()
        if " ERROR " in line or line.startswith("Traceback")
    ]
    if errors:
        sys.exit("benchmark: the daemon logged errors:\n" + "\n".join(errors[:10]))


def verify_audit(ws: Workspace, env: dict[str, str]) -> dict:
    """``signpost audit verify``, which must pass; its verdict."""
    out = signpost(ws.settings.path, "audit", "verify", "-f", "json", env=env, actor="alice")
    verdict = json.loads(out)
    if not verdict["ok"]:
        sys.exit(f"benchmark: audit verify failed after the burst: {verdict}")
    return verdict


# --- what the database says ---------------------------------------------------------------------


def scalar(ws: Workspace, query: sa.Select) -> int:
    with ws.store.engine.connect() as conn:
        return conn.execute(query).scalar_one()


def beat_seen(ws: Workspace, pid: int) -> bool:
    beats = Heartbeat.__table__
    return scalar(ws, sa.select(sa.func.count()).where(beats.c.pid == pid)) > 0


def head_seq(ws: Workspace) -> int:
    return scalar(ws, sa.select(sa.func.coalesce(sa.func.max(AuditEvent.__table__.c.seq), 0)))


def wait_ended(
    ws: Workspace,
    first_delivery: int,
    count: int,
    deadline_s: float,
    probe: Callable[[], None] | None = None,
) -> int:
    """Wait until the deliveries from id ``first_delivery`` on have ended; how many did.

    ``probe`` runs at every poll (every 50 ms), to sample what the database is doing.
    """
    table = Delivery.__table__
    query = sa.select(sa.func.count()).where(table.c.id >= first_delivery, table.c.state.in_(ENDED))
    deadline = time.monotonic() + deadline_s
    while True:
        ended = scalar(ws, query)
        if ended >= count or time.monotonic() > deadline:
            return ended
        if probe is not None:
            probe()
        time.sleep(0.05)


def sent_events(ws: Workspace, after_seq: int) -> list[tuple[datetime, dict, str]]:
    """The ``delivery.sent`` audit events after ``after_seq``: time, details and actor."""
    table = AuditEvent.__table__
    query = sa.select(table.c.time, table.c.details, table.c.actor).where(
        table.c.seq > after_seq, table.c.action == "delivery.sent"
    )
    with ws.store.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [(datetime.fromisoformat(t), json.loads(d), a) for t, d, a in rows]


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
