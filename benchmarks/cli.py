"""Wall-time benchmarks of the ``signpost`` CLI, each against a baseline timed in the same run.

A ratio to a baseline timed on the same machine, in the same minute, travels between machines
better than raw seconds do, so every figure is printed next to its baseline:

- ``signpost --help`` against ``python -c pass`` (goal: under 3x), with
  ``python -c "import typer"`` as a second reference for the part that Typer itself costs;
- ``signpost post list`` (first page of 50, table and json) over ``--posts`` posts (goal:
  under 0.5 s), against ``python -c pass`` and a raw sqlite3 query of the same page;
- ``signpost audit verify`` over ``--events`` audit events (goal: under 2 s), against reading
  the same rows with sqlite3.

Every command runs as a subprocess, as a user would run it, and each figure is the median
of ``--repeat`` runs, taken in rounds that alternate a command with its baselines. The
workspace lives in a temporary folder that is removed afterwards: the tests' config,
``signpost init`` through the CLI, the campaign and the first post through
``posts.workflow``; then the other posts, their revisions and a valid audit chain
(continuing the events written so far) inserted in bulk through SQLAlchemy Core on the
models' tables (benchmarks/workspace.py), and checked through the CLI before anything is
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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks.*, tests.*

from sqlmodel import Session

from benchmarks.report import report_goals, report_ratios
from benchmarks.workspace import (
    HELPLINE,
    SIGNPOST,
    Event,
    actor_of,
    append_events,
    campaign_id,
    checkpoint,
    clean_env,
    create,
    insert,
    row_of,
    run,
)
from posts import audit, workflow
from posts.audit import verify
from posts.models import Post, Revision
from posts.rules import Content
from tests.conftest import team_config

PYTHON = sys.executable
PAGE = 50
STATES = ("published", "published", "published", "approved", "submitted", "draft", "cancelled")
AUTHORS = ("alice", "carol")

#: The page ``signpost post list`` shows, as one raw query (the baseline's work).
PAGE_QUERY = f"""
SELECT count(*) FROM post;
SELECT post.id, campaign.slug, post.state, post.author, post.revision, revision.text,
       revision.content_hash, post.updated
FROM post
JOIN campaign ON campaign.id = post.campaign_id
JOIN revision ON revision.post_id = post.id AND revision.number = post.revision
ORDER BY post.id DESC LIMIT {PAGE} OFFSET 0
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
    """The environment without any Signpost variable, acting as carol (every role)."""
    return clean_env(SIGNPOST_ACTOR="carol")


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


# --- building the workspace -----------------------------------------------------------------


def post_text(n: int) -> str:
    """A plausible post, different for every ``n``."""
    return (
        f"Worried about your own online behaviour? Week {n % 52 + 1}, message {n}: confidential,"
        f" non-judgemental help is one call away on {HELPLINE}, or chat online."
    )


def link_of(n: int) -> str | None:
    return "https://www.stopitnow.org.uk/" if n % 3 == 0 else None


def build_workspace(folder: Path, posts: int, events: int, env: dict[str, str]) -> Path:
    """The tests' config and a database made by the CLI, the campaign and post 1 through
    ``posts.workflow``, then the other posts in bulk and audit events up to ``events``."""
    ws = create(folder, team_config("sqlite:///signpost.db"), env, "carol")
    start = ws.clock.now()
    with ws.store.transaction() as session:
        workflow.add_post(
            session,
            actor_of(ws, AUTHORS[1]),
            start,
            campaign=workflow.get_campaign(session, "stop-it-now"),
            content=Content(text=post_text(1), link=link_of(1)),
            channels=ws.settings.channels,
        )
    with ws.store.transaction() as session:
        # each bulk post.add has the details workflow.add_post recorded for post 1
        (first,) = audit.events(session, limit=1)
        added = json.loads(first.details)
        post_1 = Written(1, first.actor, added["content_hash"], added["text"], added["link"])
        written = [post_1, *insert_posts(session, campaign_id(session), posts, start)]
        append_events(session, chain(written, added, events - first.seq, start))
    checkpoint(ws)
    ws.store.close()
    return ws.settings.path


@dataclass(frozen=True)
class Written:
    """What the audit log says about one bulk-inserted post."""

    post_id: int
    author: str
    content_hash: str
    text: str
    link: str | None


def insert_posts(session: Session, campaign: int, count: int, start: datetime) -> list[Written]:
    """Posts 2 to ``count`` in mixed states, each row built from the model; every tenth was
    edited once, so it has two revisions."""
    post_base = row_of(Post(campaign_id=campaign, author="", created=start, updated=start))
    numbers_of = {n: (1, 2) if n % 10 == 0 else (1,) for n in range(2, count + 1)}
    post_rows = [
        {
            **post_base,
            "author": AUTHORS[n % len(AUTHORS)],
            "revision": numbers[-1],
            "state": STATES[n % len(STATES)],
            "created": start + timedelta(seconds=n),
            "updated": start + timedelta(seconds=n, hours=1),
        }
        for n, numbers in numbers_of.items()
    ]
    ids = insert(session, Post, post_rows)
    revision_base = row_of(
        Revision(post_id=0, number=1, author="", text="", content_hash="", created=start)
    )
    revision_rows, written = [], []
    for post_id, (n, numbers), row in zip(ids, numbers_of.items(), post_rows, strict=True):
        for number in numbers:
            text = post_text(n) + (" (edited)" if number == 2 else "")
            digest = Content(text=text, link=link_of(n)).content_hash()
            if number == 1:
                written.append(Written(post_id, row["author"], digest, text, link_of(n)))
            revision_rows.append(
                {
                    **revision_base,
                    "post_id": post_id,
                    "number": number,
                    "author": row["author"],
                    "text": text,
                    "link": link_of(n),
                    "content_hash": digest,
                    "created": row["created"],
                }
            )
    insert(session, Revision, revision_rows)
    return written


def chain(written: Sequence[Written], added: dict, count: int, start: datetime) -> Iterator[Event]:
    """``count`` events: the ``post.add`` of each post but the first (``added``, the first
    one's details, with its words), then state changes of every post in turn."""
    for i in range(count):
        when = start + timedelta(seconds=1 + i)
        if i < len(written) - 1:
            post = written[i + 1]
            details = {
                **added,
                "content_hash": post.content_hash,
                "text": post.text,
                "link": post.link,
            }
            yield Event(when, post.author, "post.add", f"post:{post.post_id}", details)
        else:
            post = written[i % len(written)]
            details = {"from": "draft", "to": "submitted"}
            yield Event(when, post.author, "post.submit", f"post:{post.post_id}", details)


# --- measuring ------------------------------------------------------------------------------


def check_workspace(config: Path, posts: int, events: int, env: dict[str, str]) -> None:
    """Stop unless the CLI sees every post and the whole chain verifies (exit 0)."""
    base = [SIGNPOST, "--config", str(config)]
    page = json.loads(run([*base, "post", "list", "--format", "json"], env).stdout)
    if len(page) != min(PAGE, posts) or page[0]["id"] != posts:
        sys.exit(f"benchmark: post list showed {len(page)} rows, first id {page[0]['id']}")
    listed = run([*base, "post", "list"], env).stderr
    if f"of {posts} post(s)" not in listed:
        sys.exit(f"benchmark: post list did not count {posts} posts: {listed.strip()}")
    verdict = json.loads(run([*base, "audit", "verify", "--format", "json"], env).stdout)
    if not verdict["ok"] or verdict["events"] != events:
        sys.exit(f"benchmark: audit verify did not pass over {events} events: {verdict}")


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
        config = build_workspace(folder, args.posts, args.events, env)
        check_workspace(config, args.posts, args.events, env)
        built = time.perf_counter() - began
        print(f"workspace built and checked in {built:.1f} s")
        db = str(folder / "signpost.db")
        base = [SIGNPOST, "--config", str(config)]
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
        page_code = (
            "import sqlite3, sys\n"
            "conn = sqlite3.connect(sys.argv[1])\n"
            f"for query in {PAGE_QUERY!r}.split(';'):\n"
            "    conn.execute(query).fetchall()\n"
        )
        raw_page, table, as_json = timed(
            [
                ("raw sqlite3 page query (subprocess)", [*python_code(page_code), db]),
                ("signpost post list", [*base, "post", "list"]),
                ("signpost post list --format json", [*base, "post", "list", "-f", "json"]),
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

    timings = [python, typer, help_, raw_page, table, as_json, read_rows, check, read_in, check_in]
    ratios = [
        ("signpost --help / python -c pass", help_.median / python.median),
        ('python -c "import typer" / python -c pass', typer.median / python.median),
        ('signpost --help / python -c "import typer"', help_.median / typer.median),
        ("post list / python -c pass", table.median / python.median),
        ("post list / raw sqlite3 page query", table.median / raw_page.median),
        ("post list --format json / raw sqlite3 page query", as_json.median / raw_page.median),
        ("audit verify / read audit rows with sqlite3", check.median / read_rows.median),
    ]
    goals = [
        ("signpost --help under 3x python -c pass", f"{ratios[0][1]:.1f}x", ratios[0][1] < 3),
        ("post list under 0.5 s", f"{table.median:.3f} s", table.median < 0.5),
        ("post list --format json under 0.5 s", f"{as_json.median:.3f} s", as_json.median < 0.5),
        ("audit verify under 2 s", f"{check.median:.3f} s", check.median < 2),
    ]
    report(timings, goals, ratios)
    print(f"\ntotal {time.perf_counter() - began:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
