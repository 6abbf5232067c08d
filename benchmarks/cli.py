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
workspace lives in a temporary folder that is removed afterwards: ``signpost init`` and
``signpost campaign add`` through the CLI, then posts, revisions and a valid audit chain
(continuing the two events the CLI wrote) bulk-inserted with sqlite3, and checked through
the CLI before anything is timed. This is a script, not a test: it reports, and exits 0
whether or not a goal is met (docs/benchmarks.md).

    .venv/bin/python benchmarks/cli.py [--posts 100000] [--events 100000] [--repeat 10]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from posts.audit import event_hash, verify
from posts.canonical import canonical_json
from posts.rules import Content

PYTHON = sys.executable
SIGNPOST = str(Path(sys.executable).with_name("signpost"))
PAGE = 50
CAMPAIGN = "stop-it-now"
HELPLINE = "0808 1000 900"
#: Synthetic posts and events are dated from here, one minute apart (no wall clock needed).
EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
STATES = ("published", "published", "published", "approved", "submitted", "draft", "cancelled")
AUTHORS = ("alice", "carol")

#: The shape of tests/conftest.py's CONFIG: four users, five channels, actor override on.
CONFIG = """\
[database]
url = "sqlite:///signpost.db"

[security]
allow_actor_override = true

[approval]
required = 1
roles = ["approver"]

[users.alice]
roles = ["author"]

[users.bob]
roles = ["approver"]

[users.carol]
roles = ["author", "approver", "admin"]

[users.dave]
roles = ["approver"]

[channels.newsroom]
type = "webhook"
url = "http://127.0.0.1:9/hook"
token_env = "SIGNPOST_BENCH_WEBHOOK_SECRET"

[channels.mastodon]
type = "mastodon"
url = "https://mastodon.example"
token_env = "SIGNPOST_BENCH_MASTODON_TOKEN"

[channels.bluesky]
type = "bluesky"
url = "https://bsky.example"
handle = "stopitnow.test"
token_env = "SIGNPOST_BENCH_BLUESKY_PASSWORD"

[channels.x]
type = "x"
username = "stopitnow"
token_env = "SIGNPOST_BENCH_X_TOKEN"

[channels.telegram]
type = "telegram"
chat = "@stopitnow"
token_env = "SIGNPOST_BENCH_TELEGRAM_TOKEN"
"""

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


def clean_env() -> dict[str, str]:
    """The environment without any Signpost variable, acting as carol (every role)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNPOST_")}
    env["SIGNPOST_ACTOR"] = "carol"
    return env


def run(argv: Sequence[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a command to completion; stop the benchmark if it fails."""
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"benchmark: {' '.join(argv)} exited {done.returncode}\n{done.stderr[-2000:]}")
    return done


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


def sqlite_time(moment: datetime) -> str:
    """A UTC time as SQLAlchemy stores a DateTime column in SQLite."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def post_text(n: int) -> str:
    """A plausible post, different for every ``n``."""
    return (
        f"Worried about your own online behaviour? Week {n % 52 + 1}, message {n}: confidential,"
        f" non-judgemental help is one call away on {HELPLINE}, or chat online."
    )


def build_workspace(folder: Path, posts: int, events: int, env: dict[str, str]) -> Path:
    """A config and a database made by the CLI, then ``posts`` posts and ``events`` events."""
    config = folder / "config.toml"
    config.write_text(CONFIG, encoding="utf-8")
    run([SIGNPOST, "--config", str(config), "init"], env)
    add = ["campaign", "add", CAMPAIGN, "--name", "Stop It Now", "--must-include", HELPLINE]
    run([SIGNPOST, "--config", str(config), *add], env)
    conn = sqlite3.connect(folder / "signpost.db")
    try:
        (campaign_id,) = conn.execute(
            "SELECT id FROM campaign WHERE slug = ?", (CAMPAIGN,)
        ).fetchone()
        head_seq, head_time, head_hash = conn.execute(
            "SELECT seq, time, hash FROM audit_event ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        start = datetime.fromisoformat(head_time) + timedelta(seconds=1)
        written = insert_posts(conn, campaign_id, posts, start)
        conn.executemany(
            "INSERT INTO audit_event (seq, time, actor, action, subject, details, prev_hash, hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            chain(written, head_seq, head_hash, events - head_seq, start),
        )
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return config


@dataclass(frozen=True)
class Written:
    """What the audit log says about one bulk-inserted post."""

    post_id: int
    author: str
    content_hash: str
    text: str
    link: str | None


def insert_posts(
    conn: sqlite3.Connection, campaign_id: int, count: int, start: datetime
) -> list[Written]:
    """``count`` posts in mixed states; every tenth was edited once, so it has two revisions."""
    post_rows, revision_rows, written = [], [], []
    for n in range(1, count + 1):
        author = AUTHORS[n % len(AUTHORS)]
        link = "https://www.stopitnow.org.uk/" if n % 3 == 0 else None
        created = start + timedelta(seconds=n)
        numbers = (1, 2) if n % 10 == 0 else (1,)
        for number in numbers:
            text = post_text(n) + (" (edited)" if number == 2 else "")
            digest = Content(text=text, variants={}, link=link, media=()).content_hash()
            if number == 1:
                written.append(Written(n, author, digest, text, link))
            revision_rows.append(
                (
                    n,
                    number,
                    author,
                    text,
                    "{}",
                    link,
                    "[]",
                    digest,
                    sqlite_time(created),
                )
            )
        post_rows.append(
            (
                n,
                campaign_id,
                author,
                numbers[-1],
                STATES[n % len(STATES)],
                sqlite_time(created),
                sqlite_time(created + timedelta(hours=1)),
            )
        )
    conn.executemany(
        "INSERT INTO post (id, campaign_id, author, revision, state, created, updated)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        post_rows,
    )
    conn.executemany(
        "INSERT INTO revision (post_id, number, author, text, variants, link, media, content_hash,"
        " created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        revision_rows,
    )
    return written


def chain(
    written: Sequence[Written], head_seq: int, head_hash: str, count: int, start: datetime
) -> Iterator[tuple[int, str, str, str, str, str, str, str]]:
    """``count`` valid events after the head: each post's ``post.add``, then state changes."""
    prev = head_hash
    for i in range(count):
        post = written[i % len(written)]
        seq = head_seq + 1 + i
        when = (start + timedelta(seconds=i)).isoformat(timespec="microseconds")
        if i < len(written):
            action, actor = "post.add", post.author
            details = {
                "campaign": CAMPAIGN,
                "revision": 1,
                "content_hash": post.content_hash,
                "text": post.text,
                "variants": {},
                "link": post.link,
                "media": [],
            }
        else:
            action, actor = "post.submit", post.author
            details = {"from": "draft", "to": "submitted"}
        subject = f"post:{post.post_id}"
        digest = event_hash(prev, seq, when, actor, action, subject, details)
        yield seq, when, actor, action, subject, canonical_json(details).decode(), prev, digest
        prev = digest


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
    width = max(len(label) for label, _ in ratios)
    print("\nratio (medians)")
    for label, ratio in ratios:
        print(f"{label:<{width}}  {ratio:6.1f}x")
    width = max(len(goal) for goal, _, _ in goals)
    print(f"\n{'goal':<{width}}  {'measured':>10}  met")
    for goal, measured, met in goals:
        print(f"{goal:<{width}}  {measured:>10}  {'yes' if met else 'NO'}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=100_000, help="posts in the database")
    parser.add_argument("--events", type=int, default=100_000, help="audit events in the database")
    parser.add_argument("--repeat", type=int, default=10, help="timed runs of each command")
    args = parser.parse_args(argv)
    if args.posts < 1 or args.events < 3 or args.repeat < 1:
        parser.error(
            "need --posts >= 1, --events >= 3 (init and the campaign write two) and --repeat >= 1"
        )
    env = clean_env()
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
