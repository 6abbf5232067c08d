"""Exactly once, even when the power goes: SIGKILL the daemon at random moments, 20 times.

200 approved deliveries are due at once to a loopback webhook receiver that dedupes on
``webhook-id``, as Standard Webhooks receivers must, and answers each request after a short
random delay so that kills land between "the receiver has it" and "the database says so".
The daemon is restarted after every kill; a claim left behind by a dead daemon has a 2 s
lease, after which the next daemon finds it expired and resends it with the same key.

Afterwards every delivery is sent (or, were the outcome unknowable, uncertain or failed with
its reason), none arrived under two different keys, none that is recorded as sent is missing
at the receiver, and the audit chain still verifies. A request cut short by a kill (headers
sent, body not) is counted by the receiver and never verified, as a real one would drop it.
"""

from __future__ import annotations

import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from posts import deliveries, workflow
from posts.revisions import SeenRevision
from posts.rules import Content
from scheduler.clock import SystemClock
from tests.database import TestDatabase
from tests.fakes.server import Reply, Request
from tests.fakes.slack import FakeSlack
from tests.fakes.threads import FakeThreads
from tests.fakes.x import FakeX
from tests.test_daemon import SECRET, TEXT, Receiver, Workspace

DELIVERIES = 200
KILLS = 20
SEED = 20_260_101
#: seconds the receiver waits before answering. With 0-20 ms all 200 are sent during the
#: first two or three runs and later kills hit an idle daemon; 0-150 ms keeps it busy, so
#: 11-15 of the 20 kills leave claims in flight (the figures are recorded below).
RECEIVER_DELAY = (0.0, 0.15)


def claims_of(ws: Workspace, pid: int) -> int:
    """How many deliveries the daemon with this pid held in ``sending`` (its id names the pid)."""
    rows = ws.rows("SELECT lease_owner FROM delivery WHERE state = 'sending'")
    return sum(1 for r in rows if r["lease_owner"].rsplit(":", 2)[1] == str(pid))


def kill_repeatedly(ws: Workspace, kills: int, rng: random.Random) -> list[int]:
    """Start a daemon and SIGKILL it mid-send, ``kills`` times: the claims each left behind."""
    in_flight_at_kill = []
    for n in range(kills):
        daemon = ws.start(log=f"daemon-{n:02d}.log")
        daemon.wait_serving()
        # Its first claim, however long the start takes on this machine, then a random
        # moment into the sends: kills land mid-send, not on an idle daemon.
        daemon.wait_for(
            "a claim or nothing left to claim",
            lambda pid=daemon.proc.pid: (
                claims_of(ws, pid) > 0 or not any(ws.states()[s] for s in ("pending", "retry_wait"))
            ),
        )
        time.sleep(rng.uniform(0.0, 0.3))
        daemon.kill()
        in_flight_at_kill.append(claims_of(ws, daemon.proc.pid))
    return in_flight_at_kill


def settle(ws: Workspace) -> None:
    """A last daemon that lives: it takes over what the dead left and settles everything."""
    final = ws.start(log="daemon-final.log")
    final.wait_serving()
    final.wait_for("every delivery to settle", ws.settled, timeout=60)
    assert final.terminate() == 0
    assert "Traceback" not in final.output()


def test_sigkill_twenty_times_loses_and_duplicates_nothing(
    tmp_path: Path, database: TestDatabase, record_property: pytest.RecordProperty
):
    rng = random.Random(SEED)
    with Receiver(SECRET, delay=RECEIVER_DELAY, seed=SEED) as receiver:
        ws = Workspace.create(tmp_path, receiver, database)
        try:
            ws.schedule_many(ws.approved_post(), DELIVERIES)
            assert ws.states() == {"pending": DELIVERIES}

            in_flight_at_kill = kill_repeatedly(ws, KILLS, rng)
            settle(ws)
        finally:
            ws.reap()

    rows = ws.rows("SELECT id, state, idempotency_key, attempts, last_error FROM delivery")
    hits = receiver.snapshot()
    keys = receiver.keys_by_delivery()
    by_state = Counter(r["state"] for r in rows)
    reconciled = sum(1 for _, action in ws.actions() if action == "delivery.reconcile")
    figures = {
        "deliveries": len(rows),
        "kills": KILLS,
        "kills_with_claims_in_flight": sum(1 for n in in_flight_at_kill if n),
        "claims_in_flight_at_kills": sum(in_flight_at_kill),
        "reconciled_after_lease_expiry": reconciled,
        "raw_requests": len(hits),
        "requests_cut_short_by_a_kill": receiver.truncated,
        "distinct_webhook_ids": len({h.webhook_id for h in hits}),
        "duplicates_resent_with_same_key": sum(1 for h in hits if h.duplicate),
        "sent": by_state["sent"],
        "uncertain": by_state["uncertain"],
        "failed": by_state["failed"],
        "max_attempts": max(r["attempts"] for r in rows),
    }
    for name, value in figures.items():
        record_property(name, value)
    sys.stdout.write(f"crash test figures: {figures}\n")

    assert len(rows) == DELIVERIES
    assert receiver.rejected == []
    assert set(by_state) <= {"sent", "uncertain", "failed"}, by_state
    for row in rows:
        if row["state"] != "sent":
            assert row["last_error"], dict(row)
    # never under two keys, and always under the key the database holds
    assert [d for d, k in keys.items() if len(k) != 1] == []
    stored_key = {r["id"]: r["idempotency_key"] for r in rows}
    assert {d: next(iter(k)) for d, k in keys.items()} == {d: stored_key[d] for d in keys}
    # nothing recorded as sent is missing at the receiver, which accepted each one
    sent = [r for r in rows if r["state"] == "sent"]
    assert {r["id"] for r in sent} <= set(keys)
    assert {r["idempotency_key"] for r in sent} <= receiver.accepted
    # the kills did land mid-send, so the test proved something
    assert figures["kills_with_claims_in_flight"] > 0
    assert figures["reconciled_after_lease_expiry"] > 0

    ws.verify_audit()


# --- channels that cannot deduplicate ------------------------------------------------------

#: posts of their own words (Slack and X are searched by text), and fewer kills: each dead
#: claim costs a 2 s lease before it is settled
SLACK_POSTS = 40
SLACK_KILLS = 8
SLACK_ENV = "TEST_SLACK_BOT_TOKEN"
TOKEN_ENV = "TEST_CHANNEL_TOKEN"


class Slow:
    """A contract fake that makes each post, then waits (seconds drawn from ``delay``)
    before saying so: a daemon killed in between has posted without knowing it."""

    posting: str  # the path that makes a post public

    def __init__(self, seed: int, delay: tuple[float, float] = RECEIVER_DELAY) -> None:
        super().__init__()
        self.rng = random.Random(seed)
        self.delay = delay

    def handle(self, request: Request) -> Reply | None:
        reply = super().handle(request)
        if reply is not None and request.path.endswith(self.posting):
            return replace(reply, delay=self.rng.uniform(*self.delay))
        return reply


class SlowSlack(Slow, FakeSlack):
    posting = "/chat.postMessage"


class SlowX(Slow, FakeX):
    posting = "/2/tweets"


class SlowThreads(Slow, FakeThreads):
    posting = "/threads_publish"


def with_slack(ws: Workspace, slack: FakeSlack) -> None:
    ws.secrets[SLACK_ENV] = slack.token
    ws.add_channel("slack", "slack", url=slack.api_url, channel="C0123456789", token_env=SLACK_ENV)


@dataclass(frozen=True)
class NoDedup:
    """A channel without idempotency keys, and how to read what it now holds."""

    type: str
    fake: type
    connect: Callable[[Workspace, Any], None]
    texts: Callable[[Any], list[str]]  # every post's text, as many times as it was posted
    receipts: Callable[[Any], dict[str, str | None]]  # text → the remote id we must record


def _x(ws: Workspace, fake: FakeX) -> None:
    ws.secrets[TOKEN_ENV] = fake.grant()["access_token"]
    ws.add_channel("x", "x", url=fake.url, username=fake.username, token_env=TOKEN_ENV)


def _threads(ws: Workspace, fake: FakeThreads) -> None:
    ws.secrets[TOKEN_ENV] = fake.token
    ws.add_channel("threads", "threads", url=fake.url, user_id=fake.user_id, token_env=TOKEN_ENV)


NO_DEDUP = [
    NoDedup(
        "slack",
        SlowSlack,
        with_slack,
        lambda f: [m["text"] for m in f.messages],
        lambda f: {m["text"]: f"C0123456789/{m['ts']}" for m in f.messages},
    ),
    NoDedup(
        "x",
        SlowX,
        _x,
        lambda f: [t["text"] for t in f.tweets],
        lambda f: {t["text"]: t["id"] for t in f.tweets},
    ),
    NoDedup(
        "threads",
        SlowThreads,
        _threads,
        lambda f: [p["text"] for p in f.posts],
        # settled by the container's status, a post is known to be out but not its id
        lambda f: {p["text"]: p["id"] for p in f.posts},
    ),
]


def approved_posts(ws: Workspace, count: int, channel: str) -> None:
    """``count`` posts of distinct words, each approved and due on ``channel`` within a
    second, in one transaction through the project's own functions."""
    with ws.transaction() as (session, settings):
        alice, bob = ws.actor(settings, "alice"), ws.actor(settings, "bob")
        now = SystemClock().now()
        campaign = workflow.get_campaign(session, "helpline")
        for n in range(count):
            post = workflow.add_post(
                session,
                alice,
                now,
                campaign=campaign,
                content=Content(text=f"{TEXT} ({n + 1} of {count})"),
                channels=settings.channels,
            )
            workflow.submit_post(session, alice, now, post=post, channels=settings.channels)
            workflow.approve_post(
                session,
                bob,
                now,
                post=post,
                policy=settings.approval,
                channels=settings.channels,
                seen=SeenRevision(1),
            )
            deliveries.schedule(
                session,
                alice,
                now,
                post=post,
                dues=[now + timedelta(milliseconds=500 + n)],
                expires=None,
                channel_names=[channel],
                channels=settings.channels,
            )


@pytest.mark.parametrize("channel", NO_DEDUP, ids=[c.type for c in NO_DEDUP])
def test_sigkill_on_a_channel_that_cannot_deduplicate_posts_nothing_twice(
    tmp_path: Path,
    database: TestDatabase,
    record_property: pytest.RecordProperty,
    channel: NoDedup,
):
    """No idempotency key: every claim a kill left behind is settled by asking the channel
    (Slack's history or X's timeline since the claim, the Threads container's status),
    never by a blind resend."""
    rng = random.Random(SEED)
    with channel.fake(SEED) as fake, Receiver(SECRET) as unused_hook:
        ws = Workspace.create(tmp_path, unused_hook, database)
        channel.connect(ws, fake)
        try:
            approved_posts(ws, SLACK_POSTS, channel.type)
            assert ws.states() == {"pending": SLACK_POSTS}
            in_flight_at_kill = kill_repeatedly(ws, SLACK_KILLS, rng)
            settle(ws)
        finally:
            ws.reap()
        posted = Counter(channel.texts(fake))
        receipts = channel.receipts(fake)

    rows = ws.rows(
        "SELECT d.id, d.state, d.remote_id, d.last_error, r.text FROM delivery d"
        " JOIN revision r ON r.post_id = d.post_id"
    )
    by_state = Counter(r["state"] for r in rows)
    figures = {
        "deliveries": len(rows),
        "kills": SLACK_KILLS,
        "kills_with_claims_in_flight": sum(1 for n in in_flight_at_kill if n),
        "claims_in_flight_at_kills": sum(in_flight_at_kill),
        "reconciled_after_lease_expiry": sum(
            1 for _, action in ws.actions() if action == "delivery.reconcile"
        ),
        "messages_posted": sum(posted.values()),
        "posted_twice": sum(1 for n in posted.values() if n > 1),
        "sent": by_state["sent"],
        "uncertain": by_state["uncertain"],
    }
    for name, value in figures.items():
        record_property(f"{channel.type}_{name}", value)
    sys.stdout.write(f"crash test figures ({channel.type}): {figures}\n")

    assert figures["posted_twice"] == 0, posted.most_common(3)
    assert set(by_state) <= {"sent", "uncertain"}, by_state
    # every post went out once, and each one recorded as sent is the post the channel holds
    assert len(posted) == SLACK_POSTS
    for row in rows:
        if row["state"] == "sent":
            assert row["text"] in receipts, dict(row)
            if row["remote_id"] is not None or channel.type != "threads":
                assert row["remote_id"] == receipts[row["text"]], dict(row)
        else:
            assert row["last_error"], dict(row)
    assert figures["kills_with_claims_in_flight"] > 0
    assert figures["reconciled_after_lease_expiry"] > 0
    ws.verify_audit()


def test_two_daemons_and_a_channel_slower_than_the_lease_make_one_post(
    tmp_path: Path, database: TestDatabase
):
    """Slack answers 3 s after posting, longer than the 2 s lease. The daemon that claimed
    the delivery renews its lease while it waits, so the other never takes it over; its
    send deadline (0.8 s, 40 % of the lease) cuts the wait, and asking Slack finds the
    message: one post, one receipt, no resend by anyone."""
    with SlowSlack(SEED, delay=(3.0, 3.0)) as slack, Receiver(SECRET) as unused_hook:
        ws = Workspace.create(tmp_path, unused_hook, database)
        with_slack(ws, slack)
        try:
            daemons = [
                ws.start(log="daemon-1.log"),
                ws.start(log="daemon-2.log", config=ws.second_config()),
            ]
            for daemon in daemons:
                daemon.wait_serving()
            approved_posts(ws, 1, "slack")
            daemons[0].wait_for(
                "the delivery to settle", lambda: ws.states()["sent"] == 1, timeout=30
            )
            time.sleep(3)  # past the lease: the other daemon would have taken it over by now
            for daemon in daemons:
                assert daemon.terminate() == 0
                assert "Traceback" not in daemon.output()
        finally:
            ws.reap()
        messages = list(slack.messages)
    [row] = ws.rows("SELECT state, remote_id, lease_owner FROM delivery")
    assert len(messages) == 1
    assert row["remote_id"] == f"C0123456789/{messages[0]['ts']}"
    actions = [action for _, action in ws.actions()]
    assert actions.count("delivery.claim") == 1
    assert "delivery.reconcile" not in actions  # its lease never looked dead
    assert actions.count("delivery.sent") == 1
