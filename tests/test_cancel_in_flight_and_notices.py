# ruff: noqa: F811  (the fixture clock, imported from tests.shared)
"""Two holes of issue 10, closed end to end through the CLI and a real engine.

- A post cancelled while one of its deliveries is being sent stays ``cancelled``; the send's
  outcome is still recorded honestly on the delivery, and the audit log shows both.
- A notification to the team (a delivery without a post) that failed or is uncertain can be
  retried and resolved with ``deliveries retry`` / ``deliveries resolve``.
"""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest

from channels.base import OutcomeUnknown, PermanentError, TransientError
from posts.store import Store
from scheduler.claims import Claim
from scheduler.clock import FrozenClock
from scheduler.config import DaemonSettings, load
from scheduler.delivery import Engine
from tests.conftest import Signpost, add_post
from tests.shared import TEXT, approved, as_json, clock, deliveries, on_clock, schedule  # noqa: F401
from tests.test_engine import FakeChannel, raises

TEAM = """
[channels.team]
type = "webhook"
url = "http://127.0.0.1:9/team"
token_env = "SIGNPOST_TEST_WEBHOOK_SECRET"

[notify]
channel = "team"
"""


@pytest.fixture
def cli(signpost: Signpost, clock: FrozenClock, config_file: Path) -> Signpost:
    config_file.write_text(config_file.read_text() + TEAM, encoding="utf-8")
    run = on_clock(signpost, clock)
    assert run("carol", "init").exit_code == 0
    assert run("carol", "campaign", "add", "stop-it-now", "--name", "S").exit_code == 0
    return run


@pytest.fixture
def channels() -> dict[str, FakeChannel]:
    return {
        "newsroom": FakeChannel("newsroom"),  # cannot deduplicate nor be asked
        "feed": FakeChannel("feed", deduplicates=True),
        "team": FakeChannel("team"),
    }


@pytest.fixture
def engine(cli, config_file: Path, clock: FrozenClock, channels):
    settings = load(config_file)
    store = Store(settings.database_url)
    yield Engine(
        store=store,
        settings=DaemonSettings(max_attempts=3),
        clock=clock,
        channels=channels,
        owner="daemon:test",
        rng=random.Random(3),
        workers=1,
        notify=settings.notify,
    )
    store.close()


def log(cli: Signpost, subject: str) -> list[tuple[str, dict]]:
    events = as_json(cli("bob", "audit", "log", "--format", "json"))
    return [(e["action"], e["details"]) for e in events if e["subject"] == subject]


def notices(cli: Signpost) -> list[dict]:
    return sorted((d for d in deliveries(cli).values() if d["notice"]), key=lambda d: d["id"])


# --- a post cancelled with a send in flight -------------------------------------------------


def test_a_post_cancelled_mid_send_stays_cancelled_and_the_send_is_recorded(
    cli, engine, clock, channels
):
    post_id = approved(cli)
    made = {d["channel"]: d for d in schedule(cli, post_id, "+1m", "newsroom,feed")}
    engine.tick()  # the team's "approval requested" notice goes first
    clock.advance(timedelta(minutes=1))
    [claim] = engine.claim_due(1)  # the newsroom send is in flight ...
    assert claim.delivery_id == made["newsroom"]["id"]
    assert cli("alice", "post", "cancel", str(post_id)).exit_code == 0  # ... when alice cancels
    assert engine.send(claim).sent == 1  # it did go out
    engine.tick()

    shown = as_json(cli("bob", "post", "show", str(post_id), "--format", "json"))
    assert shown["state"] == "cancelled"
    rows = deliveries(cli)
    sent, dropped = rows[made["newsroom"]["id"]], rows[made["feed"]["id"]]
    assert (sent["state"], sent["remote_url"]) == ("sent", f"https://example.test/{sent['id']}")
    assert dropped["state"] == "cancelled"
    assert channels["feed"].sent == []
    [cancel] = [d for a, d in log(cli, f"post:{post_id}") if a == "post.cancel"]
    assert cancel["in_flight"] == [sent["id"]]
    assert [a for a, _ in log(cli, f"post:{post_id}")].count("post.publish") == 0
    assert [a for a, _ in log(cli, f"delivery:{sent['id']}")][-1] == "delivery.sent"
    assert cli("bob", "audit", "verify").exit_code == 0


def cancelled_in_flight(cli, engine, clock, channels, error: Exception) -> tuple[int, dict, Claim]:
    """A post cancelled while its one newsroom send is claimed, the send to end in ``error``.

    The two tests below differ only in how that send ends; this is the part they share.
    Returns the post's id, its delivery and the claim, not yet sent.
    """
    post_id = approved(cli)
    [made] = schedule(cli, post_id, "+1m", "newsroom")
    engine.tick()  # the team's "approval requested" notice goes first
    channels["newsroom"].script.append(raises(error))
    clock.advance(timedelta(minutes=1))
    [claim] = engine.claim_due(1)
    assert cli("alice", "post", "cancel", str(post_id)).exit_code == 0
    return post_id, made, claim


def test_a_cancelled_posts_send_that_must_retry_is_cancelled_not_resent(
    cli, engine, clock, channels
):
    post_id, made, claim = cancelled_in_flight(
        cli, engine, clock, channels, TransientError("newsroom: 503")
    )
    engine.send(claim)
    for _ in range(3):
        clock.advance(timedelta(minutes=5))
        engine.tick()
    assert len(channels["newsroom"].sent) == 1  # the one in flight, never again
    assert deliveries(cli)[made["id"]]["state"] == "cancelled"
    actions = [(a, d.get("from"), d.get("to")) for a, d in log(cli, f"delivery:{made['id']}")]
    assert actions[-1] == ("delivery.cancel", "retry_wait", "cancelled")
    assert as_json(cli("bob", "post", "show", str(post_id), "-f", "json"))["state"] == "cancelled"


def test_a_cancelled_posts_failed_delivery_cannot_be_retried(cli, engine, clock, channels):
    post_id, made, claim = cancelled_in_flight(
        cli, engine, clock, channels, PermanentError("newsroom: 400 bad request")
    )
    assert engine.send(claim).failed == 1
    refused = cli("alice", "deliveries", "retry", str(made["id"]))
    assert refused.exit_code == 3
    assert f"post {post_id}, which is cancelled" in refused.stderr
    assert deliveries(cli)[made["id"]]["state"] == "failed"


# --- notifications can be retried and resolved ----------------------------------------------


def submitted_for_approval(cli: Signpost) -> dict:
    """A submitted post: its 'approval requested' notification is due at once."""
    post = add_post(cli, TEXT)
    assert cli("alice", "post", "submit", str(post["id"])).exit_code == 0
    [notice] = notices(cli)
    return notice


def test_a_failed_notification_is_retried_and_goes_out_once(cli, engine, channels):
    notice = submitted_for_approval(cli)
    channels["team"].script.append(raises(PermanentError("team: 410 gone")))
    assert engine.tick().failed == 1
    assert notices(cli)[0]["state"] == "failed"
    assert len(notices(cli)) == 1  # a failing notification does not notify

    retried = as_json(cli("carol", "deliveries", "retry", str(notice["id"]), "--format", "json"))
    assert (retried["state"], retried["campaign"]) == ("pending", None)
    assert engine.tick().sent == 1
    assert engine.tick().sent == 0
    [again] = notices(cli)
    assert again["state"] == "sent"
    keys = [m.idempotency_key for m in channels["team"].sent]
    assert keys == [notice["idempotency_key"]] * 2  # the failed try and the retry, one key
    steps = [(a, d.get("from"), d.get("to")) for a, d in log(cli, f"delivery:{notice['id']}")]
    assert ("delivery.retry", "failed", "held") in steps
    assert ("delivery.release", "held", "pending") in steps


def test_an_uncertain_notification_is_resolved_either_way(cli, engine, channels):
    first = submitted_for_approval(cli)
    channels["team"].script.append(raises(OutcomeUnknown("team: connection lost")))
    assert engine.tick().uncertain == 1
    assert notices(cli)[0]["state"] == "uncertain"
    resolved = as_json(
        cli(
            "bob",
            "deliveries",
            "resolve",
            str(first["id"]),
            "--sent",
            "https://chat.example/team/1",
            "--format",
            "json",
        )
    )
    assert (resolved["state"], resolved["remote_url"]) == ("sent", "https://chat.example/team/1")

    # a second post's notification: it did not go out; resolved so, then retried
    post = as_json(
        cli("alice", "post", "add", "--campaign", "stop-it-now", "--text", TEXT, "-f", "json")
    )
    assert cli("alice", "post", "submit", str(post["id"])).exit_code == 0
    second = notices(cli)[-1]
    channels["team"].script.append(raises(OutcomeUnknown("team: connection lost")))
    assert engine.tick().uncertain == 1
    out = as_json(
        cli("bob", "deliveries", "resolve", str(second["id"]), "--not-sent", "--format", "json")
    )
    assert out["state"] == "failed" and "not sent (resolved by bob)" in out["last_error"]
    assert cli("carol", "deliveries", "retry", str(second["id"])).exit_code == 0
    assert engine.tick().sent == 1
    assert [n["state"] for n in notices(cli)] == ["sent", "sent"]
    steps = [(a, d.get("from"), d.get("to")) for a, d in log(cli, f"delivery:{second['id']}")]
    assert ("delivery.resolve", "uncertain", "failed") in steps
    assert cli("bob", "audit", "verify").exit_code == 0
