"""Wall-time benchmarks of the ``signpost`` CLI, each against a baseline timed in the same run.

A ratio to a baseline timed on the same machine, in the same minute, travels between machines
better than raw seconds do, so every figure is printed next to its baseline:

- ``signpost --help`` against ``python -c pass`` (goal: at most 3x), with
  ``python -c "import typer"`` as a second reference for the part that Typer itself costs;
- the read commands over ``--posts`` posts, each against a raw sqlite3 query of what it shows
  (goal, issue 14: at most 0.25 s each): ``post list`` (first page of 50, table and json),
  ``post show ID`` (the newest post) and ``deliveries list`` (first 50, newest due first,
  over a pending delivery for every approved post);
- ``signpost audit verify`` over ``--events`` audit events (goal: under 2 s), against reading
  the same rows with sqlite3.

Every command runs as a subprocess, as a user would run it, and each figure is the median
of ``--repeat`` runs, taken in rounds that alternate a command with its baselines. The
subprocesses may write their bytecode cache (an installed signpost has one), so a source
file changed since its last cache is compiled once, in the untimed round, not in every run.
The workspace lives in a temporary folder that is removed afterwards
(benchmarks/cliworkspace.py builds it) and is checked through the CLI before anything is
timed. This is a script, not a test: it reports, and exits 0 whether or not a goal is met
(docs/benchmarks.md).

    .venv/bin/python benchmarks/cli.py [--posts 100000] [--events 100000] [--repeat 10]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks.*, tests.*

from benchmarks.cliworkspace import build_workspace
from benchmarks.report import report_goals, report_ratios
from benchmarks.workspace import SIGNPOST, clean_env, run
from posts.audit import verify

PYTHON = sys.executable
PAGE = 50
#: issue 14: each read command answers within this many seconds
READ_GOAL = 0.25

#: The page ``signpost post list`` shows, as raw queries (the baseline's work).
PAGE_QUERY = f"""
SELECT count(*) FROM post;
SELECT post.id, campaign.slug, post.state, post.author, post.revision, revision.text,
       revision.content_hash, post.updated
FROM post
JOIN campaign ON campaign.id = post.campaign_id
JOIN revision ON revision.post_id = post.id AND revision.number = post.revision
ORDER BY post.id DESC LIMIT {PAGE} OFFSET 0
"""

#: What ``signpost post show ID`` shows, as raw queries: the post with its campaign and
#: current revision, its approvals of that revision, and its latest rejection.
SHOW_QUERY = """
SELECT post.*, campaign.slug, campaign.approvals_required, revision.*
FROM post
JOIN campaign ON campaign.id = post.campaign_id
JOIN revision ON revision.post_id = post.id AND revision.number = post.revision
WHERE post.id = {id};
SELECT approval.approver FROM approval JOIN post ON post.id = approval.post_id
JOIN revision ON revision.post_id = post.id AND revision.number = post.revision
WHERE approval.post_id = {id} AND approval.decision = 'approve'
  AND approval.content_hash = revision.content_hash;
SELECT * FROM approval WHERE post_id = {id} AND decision = 'reject'
ORDER BY time DESC, id DESC LIMIT 1
"""

#: The page ``signpost deliveries list`` shows, as one raw query.
DELIVERIES_QUERY = f"""
SELECT delivery.*, campaign.slug, campaign.tz
FROM delivery
LEFT JOIN post ON post.id = delivery.post_id
LEFT JOIN campaign ON campaign.id = post.campaign_id
ORDER BY delivery.due DESC, delivery.id LIMIT {PAGE}
"""

CHAIN_QUERY = (
    "SELECT seq, time, actor, action, subject, details, prev_hash, hash"
    " FROM audit_event ORDER BY seq"
)


@dataclass(frozen=True)
class Timing:
    """The wall times of one command's runs."""

    label: str
    seconds: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def carol_env() -> dict[str, str]:
    """The environment without any Signpost variable, acting as carol (every role).

    Without ``PYTHONDONTWRITEBYTECODE`` too: with it, every module edited since its cached
    bytecode was written is compiled again in every run (tens of milliseconds on a tree
    being worked on), which an installed signpost never does.
    """
    env = clean_env(SIGNPOST_ACTOR="carol")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def timed(
    commands: Sequence[tuple[str, Sequence[str]]], env: dict[str, str], repeat: int
) -> list[Timing]:
    """Wall times of ``repeat`` rounds of ``commands``, after one untimed round.

    Each round runs every command once, in turn, so a command and its baseline meet the
    same load on the machine and the ratio between them stays fair.
    """
    seconds: list[list[float]] = [[] for _ in commands]
    for round_ in range(repeat + 1):
        for i, (_label, argv) in enumerate(commands):
            start = time.perf_counter()
            run(argv, env)
            if round_:
                seconds[i].append(time.perf_counter() - start)
    return [Timing(label, tuple(s)) for (label, _argv), s in zip(commands, seconds, strict=True)]


def python_code(code: str) -> list[str]:
    """argv that runs ``code`` with the same interpreter as ``signpost``."""
    return [PYTHON, "-c", code]


# --- measuring ------------------------------------------------------------------------------


def check_workspace(
    config: Path, posts: int, events: int, deliveries: int, env: dict[str, str]
) -> None:
    """Stop unless the CLI sees every post, the newest post and every delivery, and the
    whole chain verifies (exit 0)."""
    base = [SIGNPOST, "--config", str(config)]
    page = json.loads(run([*base, "post", "list", "--format", "json"], env).stdout)
    if len(page) != min(PAGE, posts) or page[0]["id"] != posts:
        sys.exit(f"benchmark: post list showed {len(page)} rows, first id {page[0]['id']}")
    listed = run([*base, "post", "list"], env).stderr
    if f"of {posts} post(s)" not in listed:
        sys.exit(f"benchmark: post list did not count {posts} posts: {listed.strip()}")
    shown = json.loads(run([*base, "post", "show", str(posts), "--format", "json"], env).stdout)
    if shown["id"] != posts:
        sys.exit(f"benchmark: post show {posts} showed post {shown['id']}")
    argv = [*base, "deliveries", "list", "--limit", str(deliveries + 1), "--format", "json"]
    if len(json.loads(run(argv, env).stdout)) != deliveries:
        sys.exit(f"benchmark: deliveries list did not show all {deliveries} deliveries")
    verdict = json.loads(run([*base, "audit", "verify", "--format", "json"], env).stdout)
    if not verdict["ok"] or verdict["events"] != events:
        sys.exit(f"benchmark: audit verify did not pass over {events} events: {verdict}")


def raw_queries(queries: str, db: str) -> list[str]:
    """argv of a subprocess that runs ``queries`` (separated by ';') with sqlite3 on ``db``
    and fetches every row: a read command's baseline."""
    code = (
        "import sqlite3, sys\n"
        "conn = sqlite3.connect(sys.argv[1])\n"
        f"for query in {queries!r}.split(';'):\n"
        "    conn.execute(query).fetchall()\n"
    )
    return [*python_code(code), db]


def in_process_verify(db: Path, repeat: int) -> tuple[Timing, Timing]:
    """The chain check alone, without the CLI: reading the rows, and hashing them."""
    reads, checks = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        conn = sqlite3.connect(db)
        rows = conn.execute(CHAIN_QUERY).fetchall()
        conn.close()
        middle = time.perf_counter()
        verdict = verify(rows)
        reads.append(middle - start)
        checks.append(time.perf_counter() - middle)
        if not verdict.ok:
            sys.exit(f"benchmark: in-process verify failed at seq {verdict.bad_seq}")
    return (
        Timing("  rows read in-process (sqlite3)", tuple(reads)),
        Timing("  posts.audit.verify(rows) in-process", tuple(checks)),
    )


def seconds(value: float) -> str:
    return f"{value * 1000:8.1f} ms"


def report(
    timings: Sequence[Timing],
    goals: Sequence[tuple[str, str, bool]],
    ratios: Sequence[tuple[str, float]],
) -> None:
    """Print the figures, the ratios to their baselines and the goals."""
    width = max(len(t.label) for t in timings)
    print(f"\n{'command':<{width}}  {'median':>11}  {'min':>11}  {'max':>11}")
    for t in timings:
        print(
            f"{t.label:<{width}}  {seconds(t.median)}  {seconds(min(t.seconds))}"
            f"  {seconds(max(t.seconds))}"
        )
    report_ratios(ratios, "ratio (medians)", digits=1)
    report_goals(goals)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=100_000, help="posts in the database")
    parser.add_argument("--events", type=int, default=100_000, help="audit events in the database")
    parser.add_argument("--repeat", type=int, default=10, help="timed runs of each command")
    args = parser.parse_args(argv)
    if args.posts < 1 or args.events < 3 or args.repeat < 1:
        parser.error(
            "need --posts >= 1, --events >= 3 (init, the campaign and the first post write"
            " three) and --repeat >= 1"
        )
    env = carol_env()
    print(
        f"signpost CLI benchmark: {args.posts:,} posts, {args.events:,} audit events,"
        f" median of {args.repeat} runs; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs"
    )
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="signpost-bench-") as tmp:
        folder = Path(tmp)
        built = build_workspace(folder, args.posts, args.events, env)
        check_workspace(built.config, args.posts, args.events, built.deliveries, env)
        print(
            f"workspace built and checked in {time.perf_counter() - began:.1f} s"
            f" ({built.deliveries:,} deliveries)"
        )
        db = str(folder / "signpost.db")
        base = [SIGNPOST, "--config", str(built.config)]
        r = args.repeat

        python, typer, help_ = timed(
            [
                ("python -c pass", python_code("pass")),
                ('python -c "import typer"', python_code("import typer")),
                ("signpost --help", [SIGNPOST, "--help"]),
            ],
            env,
            r,
        )
        raw_page, table, as_json = timed(
            [
                ("raw sqlite3 page query (subprocess)", raw_queries(PAGE_QUERY, db)),
                ("signpost post list", [*base, "post", "list"]),
                ("signpost post list --format json", [*base, "post", "list", "-f", "json"]),
            ],
            env,
            r,
        )
        raw_show, show = timed(
            [
                (
                    "raw sqlite3 post query (subprocess)",
                    raw_queries(SHOW_QUERY.format(id=args.posts), db),
                ),
                (f"signpost post show {args.posts}", [*base, "post", "show", str(args.posts)]),
            ],
            env,
            r,
        )
        raw_deliveries, deliveries = timed(
            [
                ("raw sqlite3 deliveries query (subprocess)", raw_queries(DELIVERIES_QUERY, db)),
                ("signpost deliveries list", [*base, "deliveries", "list"]),
            ],
            env,
            r,
        )
        read_code = (
            f"import sqlite3, sys\nsqlite3.connect(sys.argv[1]).execute({CHAIN_QUERY!r}).fetchall()"
        )
        read_rows, check = timed(
            [
                ("read audit rows with sqlite3 (subprocess)", [*python_code(read_code), db]),
                ("signpost audit verify", [*base, "audit", "verify"]),
            ],
            env,
            r,
        )
        read_in, check_in = in_process_verify(folder / "signpost.db", min(r, 3))

    timings = [
        python,
        typer,
        help_,
        raw_page,
        table,
        as_json,
        raw_show,
        show,
        raw_deliveries,
        deliveries,
        read_rows,
        check,
        read_in,
        check_in,
    ]
    help_ratio = help_.median / python.median
    ratios = [
        ("signpost --help / python -c pass", help_ratio),
        ('python -c "import typer" / python -c pass', typer.median / python.median),
        ('signpost --help / python -c "import typer"', help_.median / typer.median),
        ("post list / python -c pass", table.median / python.median),
        ("post list / raw sqlite3 page query", table.median / raw_page.median),
        ("post list --format json / raw sqlite3 page query", as_json.median / raw_page.median),
        ("post show / raw sqlite3 post query", show.median / raw_show.median),
        (
            "deliveries list / raw sqlite3 deliveries query",
            deliveries.median / raw_deliveries.median,
        ),
        ("audit verify / read audit rows with sqlite3", check.median / read_rows.median),
    ]
    reads = [
        ("post list", table),
        ("post list --format json", as_json),
        ("post show ID", show),
        ("deliveries list", deliveries),
    ]
    goals = [
        ("signpost --help at most 3x python -c pass", f"{help_ratio:.1f}x", help_ratio <= 3),
        *(
            (f"{name} at most {READ_GOAL} s", f"{t.median:.3f} s", t.median <= READ_GOAL)
            for name, t in reads
        ),
        ("audit verify under 2 s", f"{check.median:.3f} s", check.median < 2),
    ]
    report(timings, goals, ratios)
    print(f"\ntotal {time.perf_counter() - began:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
