"""``--database postgresql`` and ``compare``: bursts on a throwaway PostgreSQL cluster (the
tests' own, ``tests.peers.throwaway_cluster``), with one daemon or several.

Every configuration starts from a fresh copy of the same workspace: the SQLite one, or
``CREATE DATABASE run_N TEMPLATE bench`` of a database built the same way.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import NoReturn

import sqlalchemy as sa

from benchmarks.daemons import check_log, daemons, verify_audit
from benchmarks.receiver import receiver
from benchmarks.report import Run, label, report_runs
from benchmarks.runs import SECRET_ENV, baseline, build_workspace, burst, config_for
from benchmarks.workspace import clean_env
from scheduler.workspace import Workspace
from tests.database import create_database
from tests.peers import throwaway_cluster


def new_secret() -> str:
    """A fresh Standard Webhooks secret for the webhook channel."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def stop_on_sigterm() -> None:
    """A SIGTERM unwinds like Ctrl-C does, so the cluster and the daemons are stopped."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("benchmark: stopped by SIGTERM"))


def no_server(what: str) -> NoReturn:
    sys.exit(f"benchmark: no {what}")


def server_version(server_url: str) -> str:
    engine = sa.create_engine(f"{server_url}/postgres", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql("SHOW server_version").scalar_one()
    finally:
        engine.dispose()


def copy_of_bench(folder: Path, url: str, server_url: str, name: str) -> Workspace:
    """A workspace over ``name``, a new copy of the ``bench`` database."""
    create_database(server_url, name, template="bench")
    folder.mkdir()
    return Workspace.open(config_for(url, f"{server_url}/{name}").write(folder / "config.toml"))


def postgres_runs(args: argparse.Namespace) -> int:
    """``--database postgresql`` or ``compare``: bursts on a throwaway PostgreSQL cluster."""
    import psycopg

    from scheduler.delivery import Engine

    stop_on_sigterm()
    compare = args.database == "compare"
    counts = args.daemons or ([1, 2, 3] if compare else [1])
    configurations = ([("SQLite", 1)] if compare else []) + [("PostgreSQL", n) for n in counts]
    workers = Engine.workers
    secret = new_secret()
    env = clean_env(**{SECRET_ENV: secret})
    began = time.perf_counter()
    runs: list[Run] = []
    with (
        receiver() as rx,
        tempfile.TemporaryDirectory(prefix="signpost-bench-") as tmp,
        throwaway_cluster(no_server) as cluster,
    ):
        print(
            f"signpost delivery benchmark: a burst of {args.deliveries:,}, on "
            + "; ".join(label(kind, n) for kind, n in configurations)
            + f"; engine workers {workers}; PostgreSQL {server_version(cluster.url)}"
            f" (fsync off), psycopg {psycopg.__version__}; Python {sys.version.split()[0]},"
            f" {os.cpu_count()} CPUs"
        )
        folder = Path(tmp)
        sqlite_ws = (
            build_workspace(folder / "sqlite", rx.url, env, args.deliveries) if compare else None
        )
        create_database(cluster.url, "bench")
        bench = build_workspace(
            folder / "postgresql", rx.url, env, args.deliveries, f"{cluster.url}/bench"
        )
        bench.store.close()  # a template database must have no one connected
        print(f"workspaces built in {time.perf_counter() - began:.1f} s")

        base_runs = [baseline(rx, args.deliveries, workers, secret) for _ in range(args.rounds)]
        base_seconds = statistics.median(base_runs)
        for i, (kind, n) in enumerate(configurations):
            if kind == "SQLite" and sqlite_ws is not None:
                ws = sqlite_ws
            else:  # a fresh copy of the workspace's database for each configuration
                ws = copy_of_bench(folder / f"run-{i}", rx.url, cluster.url, f"run_{i}")
            try:
                with daemons(ws, env, n) as processes:
                    result = burst(
                        ws,
                        rx,
                        args.deliveries,
                        [process.pid for process in processes],
                        cluster if ws.store.is_postgres else None,
                    )
            finally:
                ws.store.close()
            check_log(ws)
            verdict = verify_audit(ws, env)
            runs.append(Run(kind, n, result, verdict["events"]))
            print(
                f"{runs[-1].label}: {result.rate:,.0f} /s; audit verify passed over"
                f" {verdict['events']:,} events"
            )
    report_runs(runs, args.deliveries, base_seconds, args.rounds, workers)
    print(f"\ntotal {time.perf_counter() - began:.1f} s")
    return 0
