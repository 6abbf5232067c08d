# ruff: noqa: F811  (the fixtures cli, clock and store, imported below)
"""A send whose outcome is unknown is remembered until something settles it (DESIGN §9).

On a channel that deduplicates, the engine resends an unknown outcome with the same key
rather than ask; while it waits to do so the first send may already be out. Cancelling the
delivery, giving up on it or letting it expire then ends it ``uncertain`` (a person checks),
never ``cancelled`` or ``failed``, and a later lookup reaches back to that first send.

The engine runs for real against a real database with a frozen clock; the channels are
recording fakes of the Channel protocol, as in tests/test_engine.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from channels.base import Message, OutcomeUnknown, PermanentError, Receipt
from posts.lifecycle import UNSURE_WITHDRAWN
from scheduler.claims import CLOCK_ALLOWANCE
from tests.shared import approved, cli, clock, deliveries, post_state, schedule  # noqa: F401
from tests.test_engine import FakeChannel, lands_then_drops, raises, store  # noqa: F401
from tests.test_exactly_once import engine_for


@dataclass
class Deduplicating(FakeChannel):
    """A channel that drops a second request under a key it has seen (like Mastodon's)."""

    deduplicates: bool = True
    dedup_window: timedelta | None = None
    bounds: list[datetime | None] = field(default_factory=list)  # not_before of each lookup

    def lookup(self, message: Message) -> Receipt | None:
        self.bounds.append(message.not_before)
        return super().lookup(message)


def waiting_after_an_unknown(
    cli, store, clock, channel: FakeChannel, *extra: str, landed: bool = True
) -> int:
    """A delivery whose first send's answer was lost (the send landed, or not): now
    waiting to resend."""
    post_id = approved(cli)
    [d] = schedule(cli, post_id, "+1m", "newsroom", *extra)
    engine = engine_for(store, clock, {"newsroom": channel}, "daemon:a")
    lost = lands_then_drops(channel) if landed else raises(OutcomeUnknown("connection reset"))

    def lost_then_stop(message: Message) -> Receipt:
        engine.stopping.set()  # the daemon is asked to stop before its resend
        return lost(message)

    channel.script.append(lost_then_stop)
    clock.advance(timedelta(minutes=1))
    assert engine.run_due().retrying == 1
    row = deliveries(cli)[d["id"]]
    assert row["state"] == "retry_wait"
    assert "resending with the same key" in row["last_error"]
    return d["id"]


def test_cancelling_a_resend_after_an_unknown_outcome_leaves_it_uncertain(cli, store, clock):
    channel = Deduplicating("newsroom")
    delivery_id = waiting_after_an_unknown(cli, store, clock, channel)
    result = cli("bob", "deliveries", "cancel", str(delivery_id), "--reason", "wrong day")
    assert result.exit_code == 0, result.stderr
    assert f"delivery {delivery_id} to newsroom is uncertain" in result.stderr
    row = deliveries(cli)[delivery_id]
    assert (row["state"], row["last_error"]) == ("uncertain", UNSURE_WITHDRAWN)
    # a person who checked says it did go out: that is the record
    resolved = cli(
        "bob", "deliveries", "resolve", str(delivery_id), "--sent", "https://example.test/1"
    )
    assert resolved.exit_code == 0, resolved.stderr
    assert deliveries(cli)[delivery_id]["state"] == "sent"


def test_cancelling_the_post_leaves_such_a_delivery_uncertain_too(cli, store, clock):
    channel = Deduplicating("newsroom")
    delivery_id = waiting_after_an_unknown(cli, store, clock, channel)
    post_id = deliveries(cli)[delivery_id]["post"]
    result = cli("alice", "post", "cancel", str(post_id))
    assert result.exit_code == 0, result.stderr
    assert post_state(cli, post_id) == "cancelled"
    assert deliveries(cli)[delivery_id]["state"] == "uncertain"


def test_a_plain_wait_to_retry_is_still_cancelled(cli, store, clock):
    """Only an unknown outcome makes the difference: a 503 proves nothing went out."""
    from channels.base import TransientError

    channel = Deduplicating("newsroom")
    post_id = approved(cli)
    [d] = schedule(cli, post_id, "+1m")
    channel.script.append(raises(TransientError("503 Service Unavailable")))
    clock.advance(timedelta(minutes=1))
    assert engine_for(store, clock, {"newsroom": channel}, "daemon:a").tick().retrying == 1
    assert cli("bob", "deliveries", "cancel", str(d["id"])).exit_code == 0
    assert deliveries(cli)[d["id"]]["state"] == "cancelled"


def test_a_refused_resend_after_an_unknown_outcome_is_uncertain_not_failed(cli, store, clock):
    channel = Deduplicating("newsroom")
    delivery_id = waiting_after_an_unknown(cli, store, clock, channel)
    channel.script.append(raises(PermanentError("422 account suspended")))
    clock.advance(timedelta(minutes=5))
    report = engine_for(store, clock, {"newsroom": channel}, "daemon:a").tick()
    assert (report.failed, report.uncertain) == (0, 1)
    row = deliveries(cli)[delivery_id]
    assert row["state"] == "uncertain"
    assert row["last_error"].startswith("422 account suspended; an earlier send's outcome")


def test_an_expired_resend_after_an_unknown_outcome_is_uncertain(cli, store, clock):
    channel = Deduplicating("newsroom")
    delivery_id = waiting_after_an_unknown(cli, store, clock, channel, "--expires", "+2m")
    clock.advance(timedelta(minutes=3))
    report = engine_for(store, clock, {"newsroom": FakeChannel("newsroom")}, "daemon:a").tick()
    assert (report.failed, report.uncertain) == (0, 1)
    row = deliveries(cli)[delivery_id]
    assert row["state"] == "uncertain"
    assert row["last_error"].startswith("uncertain: past its expiry")
    assert f"signpost deliveries resolve {delivery_id}" in row["last_error"]


def test_past_the_dedup_window_the_engine_asks_back_to_the_first_send_before_resending(
    cli, store, clock
):
    """The first send's key is out of the channel's window, so a resend could post twice:
    the engine asks instead, about everything since that first send (not since this
    claim), and finds it."""
    channel = Deduplicating("newsroom", dedup_window=timedelta(minutes=10), can_look_up=True)
    first_claim = clock.now() + timedelta(minutes=1)
    delivery_id = waiting_after_an_unknown(cli, store, clock, channel)
    clock.advance(timedelta(minutes=30))  # the retry comes late (a paused campaign, say)
    report = engine_for(store, clock, {"newsroom": channel}, "daemon:a").tick()
    assert report.sent == 1
    assert len(channel.sent) == 1  # never resent
    assert channel.bounds == [first_claim - CLOCK_ALLOWANCE]
    row = deliveries(cli)[delivery_id]
    assert (row["state"], row["remote_id"]) == ("sent", "found")


def test_past_the_window_a_lookup_that_proves_absence_lets_it_go_out_once(cli, store, clock):
    channel = Deduplicating("newsroom", dedup_window=timedelta(minutes=10), can_look_up=True)
    delivery_id = waiting_after_an_unknown(cli, store, clock, channel, landed=False)
    clock.advance(timedelta(minutes=30))
    report = engine_for(store, clock, {"newsroom": channel}, "daemon:a").tick()
    assert (report.retrying, report.sent) == (1, 1)  # asked first: not there, so sent
    assert len(channel.bounds) == 1
    assert len(channel.sent) == 2 and len(channel.landed) == 1
    assert deliveries(cli)[delivery_id]["state"] == "sent"


def test_a_lookup_on_a_slow_server_is_cut_at_the_send_deadline(cli, store, clock, monkeypatch):
    """Slack posts, the answer is lost, and its history then answers after 2 s: the
    lookup gives up at the 0.2 s send deadline (it runs where leases are renewed, so it
    must not hang) and a person checks, rather than the engine waiting or resending."""
    import httpx

    from channels.registry import build
    from tests.fakes.slack import FakeSlack

    with FakeSlack(clock=clock) as fake, httpx.Client(timeout=5) as client:
        monkeypatch.setenv("SIGNPOST_TEST_SLACK_TOKEN", fake.token)
        options = {"url": fake.api_url, "channel": "C0123456789"}
        slack = build(
            "newsroom",
            "slack",
            {**options, "token_env": "SIGNPOST_TEST_SLACK_TOKEN"},
            client=client,
            now=clock.now,
        )
        post_id = approved(cli)
        [d] = schedule(cli, post_id, "+1m")
        fake.drop_next(processed=True)  # posted, and the answer lost
        fake.delay_next(2.0)  # conversations.history, far slower than the deadline
        clock.advance(timedelta(minutes=1))
        report = engine_for(store, clock, {"newsroom": slack}, "daemon:a").tick()
        assert report.uncertain == 1
        row = deliveries(cli)[d["id"]]
        assert row["state"] == "uncertain"
        # the client's own timeout is 5 s: only the deadline can have cut a 2 s answer
        assert row["last_error"].endswith("connection lost (ReadTimeout)")
        assert len(fake.messages) == 1
