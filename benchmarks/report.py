"""The delivery benchmark's printed report: figures, ratios to their baselines, and goals."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks.runs import Burst, percentile


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def seconds(value: float) -> str:
    return f"{value:.2f} s"


def met(ok: bool) -> str:
    return "yes" if ok else "NO"


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
    report_ratios(ratios, "ratio", digits=2)
    report_goals(goals)


def report_ratios(ratios: Sequence[tuple[str, float]], title: str, digits: int) -> None:
    """Print each ratio to its baseline, ``digits`` after the point, under ``title``."""
    width = max(len(label) for label, _ in ratios)
    print(f"\n{title}")
    for label, ratio in ratios:
        print(f"{label:<{width}}  {ratio:6.{digits}f}x")


def report_goals(goals: Sequence[tuple[str, str, bool]]) -> None:
    """Print each goal, what was measured, and whether that met it."""
    width = max(len(goal) for goal, _, _ in goals)
    print(f"\n{'goal':<{width}}  {'measured':>10}  met")
    for goal, measured, ok in goals:
        print(f"{goal:<{width}}  {measured:>10}  {met(ok)}")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print rows under headers, the first column left-aligned and the others right."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        cells = [f"{row[0]:<{widths[0]}}"]
        cells += [f"{cell:>{width}}" for cell, width in zip(row[1:], widths[1:], strict=True)]
        print("  ".join(cells).rstrip())


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


def one_daemon(run: Run, runs: Sequence[Run]) -> Run | None:
    """The run with one daemon on the same database as ``run``, if there was one."""
    return next((r for r in runs if r.database == run.database and r.daemons == 1), None)


def scaling(run: Run, runs: Sequence[Run]) -> str:
    """Throughput against one daemon's on the same database: the scaling curve's points."""
    one = one_daemon(run, runs)
    return "-" if one is None or one is run else f"{run.burst.rate / one.burst.rate:.2f}x"


def report_runs(
    runs: Sequence[Run], count: int, base_seconds: float, rounds: int, workers: int
) -> None:
    """Each configuration's throughput, lateness, checks, CPU and chain lock; the goals."""
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
            "vs 1 daemon",
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
                scaling(run, runs),
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
    print("\nduring the burst: cores busy (due → end) and the chain lock, sampled every poll")

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
        "  (lock held: share of samples in which a transaction held the audit chain's lock;"
        " holder in Python:\n  share in which its backend sat 'idle in transaction', waiting"
        " for the daemon; waiting:\n  transactions queued on the lock, on average)"
    )
    print()
    table(
        ("goal", *(run.label for run in runs)),
        [
            (
                "throughput at least 0.8x the baseline",
                *(met(r.burst.rate / base_rate >= 0.8) for r in runs),
            ),
            (
                "lateness p99 under 2 s",
                *(met(percentile(r.burst.late, 99) < 2) for r in runs),
            ),
            (
                "3 daemons at least 2x one (same database)",
                *(
                    "-"
                    if r.daemons != 3 or one_daemon(r, runs) is None
                    else met(r.burst.rate >= 2 * one_daemon(r, runs).burst.rate)
                    for r in runs
                ),
            ),
            (
                "every delivery received exactly once",
                *(met(r.burst.distinct == r.burst.requests == count) for r in runs),
            ),
        ],
    )
