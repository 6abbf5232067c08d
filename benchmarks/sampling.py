"""What a burst costs while it runs: the cores each process used, and on PostgreSQL how busy
the audit chain's advisory lock, the one serialisation point of the daemons' work, was
(``pg_locks``, every poll)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks.daemons import proc_status
from posts.audit import CHAIN_LOCK
from scheduler.workspace import Workspace
from tests.peers import PgCluster


@dataclass(frozen=True)
class LockSamples:
    """The audit chain's advisory lock sampled every poll during a burst on PostgreSQL."""

    samples: int
    held: float  # share of samples in which a transaction held it
    holder_idle: float  # share in which its holder was 'idle in transaction': Python's turn
    waiting: float  # transactions waiting for it, on average


class Sampler:
    """While a burst runs: CPU time of the processes involved, and the chain lock's use."""

    LOCKS = sa.text(
        "SELECT l.granted, a.state FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
        f" WHERE l.locktype = 'advisory' AND l.objid = {CHAIN_LOCK}"
    )

    def __init__(
        self,
        ws: Workspace,
        pids: Sequence[int],
        cluster: PgCluster | None,
        due: float,
        receiver: int,
    ) -> None:
        self.ws, self.pids, self.cluster, self.due = ws, pids, cluster, due
        self.receiver = receiver
        self.start: dict[str, Any] | None = None
        self.locks: list[tuple[int, int, int]] = []  # (held, holder idle, waiting)

    def __call__(self) -> None:
        if time.time() < self.due:
            return
        if self.start is None:
            self.start = self.snapshot()
        if self.ws.store.is_postgres:
            with self.ws.store.engine.connect() as conn:
                rows = conn.execute(self.LOCKS).all()
            held = [state for granted, state in rows if granted]
            idle = sum(state == "idle in transaction" for state in held)
            self.locks.append((len(held), idle, len(rows) - len(held)))

    def snapshot(self) -> dict[str, Any]:
        groups = {
            "daemons": self.pids,
            "receiver": [self.receiver],
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
