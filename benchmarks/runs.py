"""The delivery benchmark's workspace and scenarios: the burst, the httpx baseline, and the
idle daemon with its single deliveries.

The workspace has one webhook channel, ``hook``, pointing at the receiver, and as many
approved posts as a burst needs, written, submitted and approved through ``posts.workflow``.
A burst gives each of them a pending delivery, all due at one instant, in bulk (see
:func:`benchmarks.workspace.bulk_deliveries`: ``deliveries.schedule`` takes milliseconds a
post, longer than the lead the daemon gets); a single delivery goes through
``deliveries.schedule`` itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from benchmarks.daemons import (
    SYNC_INTERVAL,
    check_log,
    daemon,
    head_seq,
    proc_status,
    sent_events,
    wait_ended,
)
from benchmarks.receiver import Receiver
from benchmarks.sampling import LockSamples, Sampler
from benchmarks.workspace import (
    CAMPAIGN,
    HELPLINE,
    actor_of,
    approved_posts,
    bulk_deliveries,
    checkpoint,
    create,
    unscheduled_posts,
)
from posts import deliveries, workflow
from posts.models import Post, PostState
from scheduler.clock import SystemClock
from scheduler.configfile import ConfigFile
from scheduler.workspace import Workspace
from tests.peers import PgCluster

SECRET_ENV = "SIGNPOST_BENCH_WEBHOOK_SECRET"
#: Seconds between inserting a scenario's deliveries and their due time: a few syncs.
LEAD = 2.0


def post_text(n: int) -> str:
    """A plausible post, different for every ``n``."""
    return (
        f"Worried about your own online behaviour? Message {n}: confidential, non-judgemental"
        f" help is one call away on {HELPLINE}, or chat online."
    )


def config_for(url: str, database_url: str) -> ConfigFile:
    """One ``webhook`` channel to the receiver at ``url``, the daemon syncing every 0.5 s
    and serving health on a port of the system's choosing, alice and bob."""
    return (
        ConfigFile(database_url)
        .with_daemon(sync_interval=SYNC_INTERVAL, health="127.0.0.1:0")
        .with_channel("hook", "webhook", url=f"{url}/hook", token_env=SECRET_ENV)
    )


def build_workspace(
    folder: Path, url: str, env: dict[str, str], posts: int, database_url: str | None = None
) -> Workspace:
    """A workspace with the campaign and ``posts`` approved posts without deliveries; its
    database is ``signpost.db`` beside the config unless ``database_url`` says otherwise."""
    ws = create(folder, config_for(url, database_url or "sqlite:///signpost.db"), env, "alice")
    with ws.store.transaction() as session:
        approved_posts(ws, session, ws.clock.now(), (post_text(n) for n in range(1, posts + 1)))
    checkpoint(ws)
    return ws


def copy_workspace(ws: Workspace, folder: Path) -> Workspace:
    """A second SQLite workspace in ``folder``: the same config and a copy of the database."""
    checkpoint(ws)
    shutil.copytree(ws.settings.path.parent, folder)
    return Workspace.open(folder / "config.toml")


def insert_pending(ws: Workspace, count: int, first: datetime, last: datetime) -> None:
    """``count`` pending deliveries of one approved post, due evenly from ``first`` to
    ``last`` (many deliveries of one post, as a long series would make)."""
    posts = Post.__table__
    query = sa.select(posts.c.id).where(posts.c.state == PostState.approved).limit(1)
    with ws.store.read() as session:
        post = session.execute(query).scalar_one()
    step = (last - first) / max(1, count - 1)
    bulk_deliveries(ws, [(post, first + i * step) for i in range(count)], again=True)


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
    lock: LockSamples | None = None  # PostgreSQL only: the audit chain lock, sampled

    @property
    def rate(self) -> float:
        return self.count / self.seconds


def burst(
    ws: Workspace,
    rx: Receiver,
    count: int,
    pids: Sequence[int] = (),
    cluster: PgCluster | None = None,
) -> Burst:
    """``count`` deliveries due together, sent by the running daemons (``pids``)."""
    rx.received(reset=True)
    seq = head_seq(ws)
    with ws.store.read() as session:
        posts = unscheduled_posts(session, count)
    if len(posts) < count:
        sys.exit(f"benchmark: the workspace has {len(posts)} approved posts for a burst of {count}")
    due = ws.clock.now() + timedelta(seconds=LEAD)
    made = bulk_deliveries(ws, [(post, due) for post in posts])
    keys = [key for _, key in made]
    sampler = Sampler(ws, pids, cluster, due.timestamp(), rx.pid)
    ended = wait_ended(ws, made[0][0], count, deadline_s=LEAD + 240, probe=sampler)
    if ended < count:
        sys.exit(f"benchmark: only {ended} of {count} burst deliveries ended within 4 minutes")
    cpu, lock = sampler.finish()
    events = sent_events(ws, seq)
    seen = rx.received()
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


def _signed(n: int, signer: Any, clock: SystemClock) -> tuple[bytes, dict[str, str]]:
    """The webhook channel's request for post ``n``: its body and signed headers."""
    now = clock.now()
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
    return body.encode("utf-8"), headers


def _answered(response: httpx.Response) -> None:
    if response.status_code != 204:
        sys.exit(f"benchmark: the receiver answered {response.status_code}")


async def _send_all(url: str, count: int, concurrency: int, secret: str) -> None:
    """The baseline: sign and POST ``count`` webhook events, ``concurrency`` at a time."""
    from standardwebhooks import Webhook

    signer, clock = Webhook(secret), SystemClock()
    todo = iter(range(1, count + 1))

    async def worker(client: httpx.AsyncClient) -> None:
        for n in todo:
            body, headers = _signed(n, signer, clock)
            _answered(await client.post(f"{url}/hook", content=body, headers=headers, timeout=30))

    async with httpx.AsyncClient() as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))


def _send_threaded(url: str, count: int, concurrency: int, secret: str) -> None:
    """The same requests the engine's way: one ``httpx.Client`` shared by a thread pool."""
    from standardwebhooks import Webhook

    signer, clock = Webhook(secret), SystemClock()
    with httpx.Client() as client, ThreadPoolExecutor(max_workers=concurrency) as pool:

        def send(n: int) -> None:
            body, headers = _signed(n, signer, clock)
            _answered(client.post(f"{url}/hook", content=body, headers=headers, timeout=30))

        list(pool.map(send, range(1, count + 1)))


def baseline(
    rx: Receiver, count: int, concurrency: int, secret: str, threaded: bool = False
) -> float:
    """Seconds for the plain httpx loop to send ``count`` events; checks they all arrived.

    ``threaded``: from a thread pool with a blocking client, as the engine sends, rather
    than ``asyncio``: what a design that sends this way can reach with no database at all.
    """
    rx.received(reset=True)
    start = time.perf_counter()
    if threaded:
        _send_threaded(rx.url, count, concurrency, secret)
    else:
        asyncio.run(_send_all(rx.url, count, concurrency, secret))
    seconds = time.perf_counter() - start
    seen = rx.received(reset=True)
    if len(seen) != count:
        sys.exit(f"benchmark: the baseline's {count} events reached the receiver {len(seen)} times")
    return seconds


def single(ws: Workspace, rx: Receiver) -> tuple[float, float]:
    """One post approved and scheduled a moment ahead through the project's functions:
    seconds late at the receiver, and as recorded."""
    seq = head_seq(ws)
    now = ws.clock.now()
    due = now + timedelta(seconds=LEAD)
    with ws.store.transaction() as session:
        (post_id,) = approved_posts(ws, session, now, [post_text(seq)])
        (delivery,) = deliveries.schedule(
            session,
            actor_of(ws, "alice"),
            now,
            post=workflow.get_post(session, post_id),
            dues=[due],
            expires=None,
            channel_names=["hook"],
            channels=ws.settings.channels,
        )
        session.flush()
        delivery_id, key = delivery.id, delivery.idempotency_key
    if wait_ended(ws, delivery_id, 1, deadline_s=LEAD + 30) != 1:
        sys.exit("benchmark: a single delivery did not end within 30 s")
    seen = rx.received(reset=True)
    ((_time, details, _actor),) = sent_events(ws, seq)
    return min(seen[key]) - due.timestamp(), details["late_seconds"]


@dataclass(frozen=True)
class Idle:
    """The idle daemon over one database: its memory, its CPU use, and single deliveries."""

    rss_kb: int
    peak_kb: int
    cpu: float  # CPU seconds per second of wall time while idle
    late: tuple[float, ...]  # due → received, one delivery at a time
    recorded: tuple[float, ...]  # due → sent, as the audit log says


def idle(ws: Workspace, env: dict[str, str], rx: Receiver, watch_s: float, singles: int) -> Idle:
    """Start the daemon, let it sync for ``watch_s`` s, read /proc, then time single posts."""
    with daemon(ws, env) as process:
        before, start = proc_status(process.pid), time.monotonic()
        time.sleep(watch_s)
        after, elapsed = proc_status(process.pid), time.monotonic() - start
        runs = [single(ws, rx) for _ in range(singles)]
    check_log(ws)
    ticks = os.sysconf("SC_CLK_TCK")
    return Idle(
        rss_kb=after["VmRSS"],
        peak_kb=after["VmHWM"],
        cpu=(after["ticks"] - before["ticks"]) / ticks / elapsed,
        late=tuple(late for late, _ in runs),
        recorded=tuple(recorded for _, recorded in runs),
    )
