"""Delivery benchmarks of ``signpost daemon``, each against a baseline measured in the same run.

The real daemon runs as a subprocess (``signpost --config X daemon``, as systemd runs it) and
publishes to a loopback webhook receiver in a process of its own: the tests' receiver
(tests/peers.py) on HTTP/1.1, answering 204 and noting when each ``webhook-id`` arrived.
Two scenarios:

- **burst**: ``--deliveries`` approved deliveries (one per post) fall due at the same instant
  while the daemon idles. Throughput, from due until the last ``delivery.sent`` is recorded,
  is compared with a plain ``httpx.AsyncClient`` loop that signs and sends the same number
  of requests of the same shape to the same receiver, as many at a time as the engine has
  workers (goal: at least 0.8x), and with the same requests sent the engine's way (a
  thread pool sharing one blocking ``httpx.Client``), which shows what that design reaches
  with no database at all. Lateness from due to sent, from the audit log's
  ``late_seconds`` (goal: p99 under 2 s). Every delivery must reach the receiver exactly
  once and ``signpost audit verify`` must pass;
- **idle**: the daemon over a database with no deliveries, then over ``--pending`` pending
  deliveries spread over the next four weeks (it keeps only the next hour on its wake-up
  calendar). Its resident memory (``VmRSS``) against the empty database's (goal: under
  300 MB) and its CPU use while it syncs; then ``--singles`` times, one delivery due a
  moment ahead, and its lateness from due to receipt at the receiver (goal: under 50 ms,
  every time).

The workspace lives in a temporary folder that is removed afterwards. ``signpost init``
makes its database; the campaign and the ``--deliveries`` approved posts of the burst are
written, submitted and approved by alice and bob through ``posts.workflow``. The burst's and
the idle run's deliveries are inserted in bulk through SQLAlchemy Core on the ``delivery``
table, each row built from the model, with the ``post.schedule`` audit events chained after
them; each single delivery is scheduled with ``posts.deliveries.schedule`` itself
(benchmarks/workspace.py). ``--profile`` adds an in-process run of the engine's claim and
send steps under cProfile, to show where a delivery's time goes. This is a script, not a
test: it reports, and exits 0 whether or not a goal is met (docs/benchmarks.md).

``--database postgresql`` runs only the burst, on a throwaway PostgreSQL cluster that the
script starts itself (the tests' own, ``tests.peers.throwaway_cluster``: on 127.0.0.1,
``fsync=off``) and always stops and removes, on an error, Ctrl-C or SIGTERM too.
``--database compare`` runs the burst with 1 daemon on SQLite and 1, 2 and 3 daemons
(``--daemons``) on PostgreSQL, each over a fresh copy of the same workspace, against the
same receiver and the same baseline. For each configuration it reports throughput and
lateness, the exactly-once check and ``audit verify``, the cores busy during the burst
(daemons, PostgreSQL, receiver, whole machine), what each daemon sent, and how busy the
audit chain's advisory lock, the one point daemons take turns at, was (``pg_locks``
sampled every poll).
The same code builds and reads both databases.

    .venv/bin/python benchmarks/delivery.py [--deliveries 2000] [--pending 100000] [--profile]
    .venv/bin/python benchmarks/delivery.py --database compare [--daemons 1,2,3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks.*, tests.peers

from benchmarks.daemons import SYNC_INTERVAL, check_log, daemon, verify_audit
from benchmarks.postgres import new_secret, postgres_runs
from benchmarks.profiling import profile
from benchmarks.receiver import receiver
from benchmarks.report import ms, report
from benchmarks.runs import (
    SECRET_ENV,
    baseline,
    build_workspace,
    burst,
    copy_workspace,
    idle,
    insert_pending,
    percentile,
)
from benchmarks.workspace import clean_env


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
    secret = new_secret()
    env = clean_env(**{SECRET_ENV: secret})
    print(
        f"signpost delivery benchmark: a burst of {args.deliveries:,}; {args.singles} single"
        f" deliveries over an empty database and over {args.pending:,} pending; engine workers"
        f" {workers};"
        f" Python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    began = time.perf_counter()
    with receiver() as rx, tempfile.TemporaryDirectory(prefix="signpost-bench-") as tmp:
        ws = build_workspace(Path(tmp) / "burst", rx.url, env, args.deliveries)
        quiet = copy_workspace(ws, Path(tmp) / "pending")
        pristine = copy_workspace(ws, Path(tmp) / "pristine")
        print(f"workspace built in {time.perf_counter() - began:.1f} s")

        base_runs = [baseline(rx, args.deliveries, workers, secret) for _ in range(args.rounds)]
        base_seconds = statistics.median(base_runs)
        threaded_seconds = statistics.median(
            baseline(rx, args.deliveries, workers, secret, threaded=True)
            for _ in range(args.rounds)
        )
        with daemon(ws, env) as process:
            result = burst(ws, rx, args.deliveries, [process.pid])
        check_log(ws)
        verdict = verify_audit(ws, env)
        print(f"burst done; audit verify passed over {verdict['events']:,} events")

        watch = SYNC_INTERVAL * 6
        empty = idle(quiet, env, rx, watch, args.singles)
        soon = quiet.clock.now() + timedelta(minutes=10)
        insert_pending(quiet, args.pending, soon, soon + timedelta(weeks=4))
        full = idle(quiet, env, rx, watch, args.singles)
        print(f"idle daemon measured over an empty database and over {args.pending:,} pending")
        if args.profile:
            profile(pristine, secret, args.deliveries, workers)
        for each in (ws, quiet, pristine):
            each.store.close()

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
            f"the same from {workers} threads with httpx.Client (as the engine sends)",
            f"{threaded_seconds:.2f} s, {args.deliveries / threaded_seconds:,.0f} /s",
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
        (
            "burst throughput: signpost / threaded httpx.Client",
            result.rate * threaded_seconds / args.deliveries,
        ),
        ("threaded httpx.Client / httpx baseline (no database)", base_seconds / threaded_seconds),
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
