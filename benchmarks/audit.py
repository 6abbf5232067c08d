"""``signpost audit verify`` over an audit log of millions, against baselines in the same run.

One workspace is built and its chain grown to each of ``--sizes`` in turn (10,000, 100,000
and 1,000,000 events by default); at each size, as a subprocess the way a user runs it:

- ``python -c pass``, the interpreter alone;
- reading the same rows with raw sqlite3 (the floor of any check that reads every event),
  and reading them plus one SHA-256 of each row's text (the floor of any check that hashes);
- ``signpost audit verify`` (goal at 1,000,000: under 5 s), and ``audit verify --since`` a
  checkpoint ``--recent`` events before the head (the daily check).

The workspace: the tests' config, ``signpost init`` and the campaign through the project
(benchmarks/workspace.py), the first post through ``posts.workflow``; then ``post.add``
events with the details it recorded, each carrying its own post text like
benchmarks/cli.py's, chained in Python with ``posts.audit.stored_event_hash`` (every
10,000th checked against ``posts.audit.event_hash``, the definition) and inserted in bulk
through Core on the model's table. Before timing, ``audit verify --format json`` must pass
over every event with none verified by value, so the fast path is what is timed.

A script, not a test: it reports, and exits 0 whether or not a goal is met
(docs/benchmarks.md, "Audit log of millions").

    .venv/bin/python benchmarks/audit.py [--sizes 10000,100000,1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks.*, tests.*

from benchmarks.cli import CHAIN_QUERY, Timing, carol_env, python_code, timed
from benchmarks.cliworkspace import post_text
from benchmarks.report import report_goals, report_ratios, table
from benchmarks.workspace import CHUNK, SIGNPOST, actor_of, checkpoint, create, run
from posts import audit, workflow
from posts.canonical import canonical_json
from posts.models import AuditEvent
from posts.rules import Content
from scheduler.workspace import Workspace
from tests.conftest import team_config

GOAL_EVENTS, GOAL_SECONDS = 1_000_000, 5.0
CHECKED_EVERY = 10_000  # one event in this many is hashed by the definition too

READ_CODE = (
    "import sqlite3, sys\n"
    f"cursor = sqlite3.connect(sys.argv[1]).execute({CHAIN_QUERY!r})\n"
    "while cursor.fetchmany(5000):\n"
    "    pass\n"
)
HASH_CODE = (
    "import hashlib, sqlite3, sys\n"
    f"cursor = sqlite3.connect(sys.argv[1]).execute({CHAIN_QUERY!r})\n"
    "while rows := cursor.fetchmany(5000):\n"
    "    for row in rows:\n"
    "        hashlib.sha256((row[6] + row[5]).encode()).hexdigest()\n"
)


class Chain:
    """The workspace's audit log, grown in bulk: ``post.add`` events shaped as
    ``workflow.add_post`` records them, each with its own text."""

    def __init__(self, ws: Workspace, start: datetime) -> None:
        self.ws, self.start = ws, start
        with ws.store.transaction() as session:
            workflow.add_post(
                session,
                actor_of(ws, "alice"),
                start,
                campaign=workflow.get_campaign(session, "stop-it-now"),
                content=Content(text=post_text(1), link=None),
                channels=ws.settings.channels,
            )
        with ws.store.read() as session:
            (head,) = audit.events(session, limit=1)
            self.seq, self.prev, added = head.seq, head.hash, json.loads(head.details)
        # every event's details: the first post's, with its own hash and words spliced in
        template = {**added, "content_hash": "@HASH@", "text": "@TEXT@"}
        self.details = canonical_json(template).decode("utf-8")

    def grow_to(self, size: int) -> None:
        """Append events until the log holds ``size``; stop if one breaks the definition."""
        table_ = AuditEvent.__table__
        with self.ws.store.transaction() as session:
            batch = []
            for row in self._rows(size):
                batch.append(row)
                if len(batch) == CHUNK:
                    session.execute(table_.insert(), batch)
                    batch = []
            if batch:
                session.execute(table_.insert(), batch)
        checkpoint(self.ws)

    def _rows(self, size: int) -> Iterator[dict[str, object]]:
        while self.seq < size:
            seq = self.seq + 1
            text = post_text(seq)
            details = self.details.replace(
                '"@HASH@"', f'"{hashlib.sha256(text.encode()).hexdigest()}"'
            ).replace('"@TEXT@"', json.dumps(text, ensure_ascii=False))
            time_ = (self.start + timedelta(milliseconds=seq)).isoformat(timespec="microseconds")
            fields = (seq, time_, "alice", "post.add", f"post:{seq}")
            digest = audit.stored_event_hash(self.prev, *fields, details)
            if seq % CHECKED_EVERY == 0 and digest != audit.event_hash(
                self.prev, *fields, json.loads(details)
            ):
                sys.exit(f"benchmark: event {seq} does not hash as posts.audit defines it")
            yield dict(
                zip(audit.EXPORT_COLUMNS, (*fields, details, self.prev, digest), strict=True)
            )
            self.seq, self.prev = seq, digest


def checked(config: Path, size: int, env: dict[str, str]) -> str:
    """The head, as a checkpoint, once ``audit verify`` passed over ``size`` events, all of
    them on the fast path; the benchmark stops otherwise."""
    out = run([SIGNPOST, "--config", str(config), "audit", "verify", "--format", "json"], env)
    verdict = json.loads(out.stdout)
    if not verdict["ok"] or verdict["events"] != size or verdict["by_value"]:
        sys.exit(f"benchmark: audit verify over {size} events: {verdict}")
    return verdict["checkpoint"]


def recent_checkpoint(ws: Workspace, recent: int) -> str:
    """The checkpoint ``recent`` events before the head, as a daily job would have kept."""
    with ws.store.read() as session:
        (head,) = audit.events(session, limit=1)
        seq = max(head.seq - recent, 0)
        hash_ = next(audit.chain_rows(session, seq, seq))[7] if seq else audit.GENESIS
    return f"signpost-audit:{seq}:{hash_}"


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="chain lengths")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each command")
    parser.add_argument("--recent", type=int, default=1000, help="events after --since")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    if sizes[0] < 10 or args.repeat < 1 or args.recent < 1:
        parser.error("need sizes of at least 10 events, --repeat >= 1 and --recent >= 1")
    env = carol_env()
    print(
        f"signpost audit benchmark: {', '.join(f'{s:,}' for s in sizes)} events, median of"
        f" {args.repeat} runs; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {load()}"
    )
    began = time.perf_counter()
    rows, ratios, goals = [], [], []
    with tempfile.TemporaryDirectory(prefix="signpost-bench-audit-") as tmp:
        folder = Path(tmp)
        ws = create(folder, team_config("sqlite:///signpost.db"), env, "carol")
        chain = Chain(ws, ws.clock.now())
        config, db = ws.settings.path, str(folder / "signpost.db")
        base = [SIGNPOST, "--config", str(config), "audit", "verify"]
        for size in sizes:
            built = time.perf_counter()
            chain.grow_to(size)
            head = checked(config, size, env)
            since = recent_checkpoint(ws, args.recent)
            print(f"{size:,} events built and verified in {time.perf_counter() - built:.1f} s")
            python, read, hashed, verify, recent = timed(
                [
                    ("python -c pass", python_code("pass")),
                    ("sqlite3 read", [*python_code(READ_CODE), db]),
                    ("sqlite3 read + sha256", [*python_code(HASH_CODE), db]),
                    ("audit verify", base),
                    ("audit verify --since", [*base, "--since", since]),
                ],
                env,
                args.repeat,
            )
            rows.append(_row(size, python, read, hashed, verify, recent))
            ratios += [
                (f"{size:>9,}: verify / sqlite3 read", verify.median / read.median),
                (f"{size:>9,}: verify / read + sha256", verify.median / hashed.median),
            ]
            if size == GOAL_EVENTS:
                goals.append(
                    (
                        f"audit verify over {size:,} events under {GOAL_SECONDS:.0f} s",
                        f"{verify.median:.2f} s",
                        verify.median < GOAL_SECONDS,
                    )
                )
            print(f"  head {head}")
        ws.store.close()
    print()
    table(
        [
            "events",
            "python -c pass",
            "sqlite3 read",
            "read + sha256",
            "audit verify",
            "µs/event",
            f"--since {args.recent:,} back",
        ],
        rows,
    )
    report_ratios(ratios, "ratio (medians)", digits=2)
    if goals:
        report_goals(goals)
    print(f"\n{load()}; total {time.perf_counter() - began:.1f} s")
    return 0


def _row(size: int, python: Timing, *timings: Timing) -> list[str]:
    """One line of the scaling table: the medians, and verify's cost an event above the
    interpreter's start."""
    read, hashed, verify, recent = timings
    per_event = (verify.median - python.median) / size * 1e6
    cells = [python, read, hashed, verify]
    return [
        f"{size:,}",
        *(f"{t.median:.3f} s" for t in cells),
        f"{per_event:.2f}",
        f"{recent.median:.3f} s",
    ]


if __name__ == "__main__":
    sys.exit(main())
