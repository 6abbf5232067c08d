# ruff: noqa: F811  (the fixtures cli, clock, hook and store, imported below)
"""Exactly once without the channel's help (DESIGN §9): every failure an outcome, leases
that outlive their sends, prepared objects recorded before the irreversible call.

The engine runs for real against a real database with a frozen clock; the channels are
recording fakes of the Channel protocol, as in tests/test_engine.py.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from channels.base import Message, OutcomeUnknown, Receipt
from posts.errors import ConfigError
from scheduler.clock import FrozenClock
from scheduler.config import DaemonSettings, load
from scheduler.delivery import Engine
from tests.shared import approved, cli, clock, deliveries, schedule  # noqa: F401
from tests.test_engine import FakeChannel, hook, raises, store  # noqa: F401

SETTINGS = DaemonSettings(
    grace=timedelta(minutes=15),
    lease=timedelta(seconds=0.4),  # renewed every 0.1 s of real time while a send runs
    send_deadline=timedelta(seconds=0.2),
    max_attempts=3,
    retry_base=timedelta(seconds=30),
)


def engine_for(store, clock, channels, owner: str, settings=SETTINGS) -> Engine:
    return Engine(
        store=store,
        settings=settings,
        clock=clock,
        channels=channels,
        owner=owner,
        rng=random.Random(5),
        workers=4,
    )


def test_a_bug_in_one_send_costs_the_others_nothing(cli, store, clock, hook):
    """One adapter raising something that is no ChannelError: the other receipts are kept."""
    post_id = approved(cli)
    made = [schedule(cli, post_id, f"+{n}s", "newsroom", "--again")[0] for n in (1, 2, 3)]
    hook.script += [
        lambda m: Receipt("r-1", "https://example.test/1"),
        raises(ValueError("a bug: unexpected JSON shape")),
        lambda m: Receipt("r-3", "https://example.test/3"),
    ]
    clock.advance(timedelta(seconds=3))
    engine = engine_for(store, clock, {"newsroom": hook}, "daemon:a")
    report = engine.run_due(batch=3)
    rows = deliveries(cli)
    states = sorted(rows[d["id"]]["state"] for d in made)
    # The webhook fake cannot be asked and does not deduplicate: the bug is an unknown
    # outcome for a person, never a resend; the two receipts are recorded.
    assert states == ["sent", "sent", "uncertain"]
    assert (report.sent, report.uncertain) == (2, 1)
    assert len(hook.sent) == 3
    [odd] = [rows[d["id"]] for d in made if rows[d["id"]]["state"] == "uncertain"]
    assert "unexpected ValueError while sending" in odd["last_error"]


class SlowChannel(FakeChannel):
    """Holds each publish until the test lets it go, like a server slower than the lease."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.entered = threading.Event()
        self.release = threading.Event()

    def publish(self, message: Message) -> Receipt:
        self.sent.append(message)
        self.entered.set()
        assert self.release.wait(10)
        return Receipt("r-slow", "https://example.test/slow")


def lease_of(store, delivery_id: int):
    from posts.models import Delivery

    with store.read() as session:
        return session.get(Delivery, delivery_id).lease_expires


def test_a_lease_is_renewed_while_its_send_runs_so_no_other_daemon_takes_it(
    cli, store, clock: FrozenClock
):
    post_id = approved(cli)
    [d] = schedule(cli, post_id, "+1m")
    slow = SlowChannel("newsroom")
    other_channel = FakeChannel("newsroom")
    first = engine_for(store, clock, {"newsroom": slow}, "daemon:a")
    second = engine_for(store, clock, {"newsroom": other_channel}, "daemon:b")
    clock.advance(timedelta(minutes=1))
    running = threading.Thread(target=first.run_due)
    running.start()
    try:
        assert slow.entered.wait(10)
        clock.advance(timedelta(seconds=30))  # far past the 0.4 s lease taken at the claim
        # The first daemon is alive and renews: wait (in real time) until it has.
        deadline = threading.Event()
        for _ in range(200):
            if lease_of(store, d["id"]) > clock.now():
                break
            deadline.wait(0.02)
        assert lease_of(store, d["id"]) > clock.now()
        report = second.tick()
        assert report.reconciled == 0
        assert other_channel.sent == []
    finally:
        slow.release.set()
        running.join(10)
    row = deliveries(cli)[d["id"]]
    assert (row["state"], row["remote_url"]) == ("sent", "https://example.test/slow")
    assert len(slow.sent) == 1


def test_a_lease_that_stopped_being_renewed_is_taken_over_as_an_unknown_outcome(
    cli, store, clock, hook
):
    post_id = approved(cli)
    [d] = schedule(cli, post_id, "+1m")
    clock.advance(timedelta(minutes=1))
    dead = engine_for(store, clock, {"newsroom": hook}, "daemon:dead")
    assert len(dead.claim_due(5)) == 1  # claimed, then the daemon died: no renewals
    clock.advance(timedelta(seconds=1))
    report = engine_for(store, clock, {"newsroom": hook}, "daemon:b").tick()
    assert report.reconciled == 1
    assert deliveries(cli)[d["id"]]["state"] == "uncertain"  # never a blind resend
    assert hook.sent == []


class TwoStep(FakeChannel):
    """A channel with a safe first step whose id must be stored before the publish."""

    def __init__(self, name: str, store) -> None:
        super().__init__(name, can_look_up=True)
        self.store = store
        self.prepared: list[str] = []
        self.stored_before_publish: list[str | None] = []

    def prepare(self, message: Message) -> str:
        self.prepared.append(f"container-{message.delivery_id}")
        return self.prepared[-1]

    def publish(self, message: Message) -> Receipt:
        from posts.models import Delivery

        with self.store.read() as session:
            self.stored_before_publish.append(session.get(Delivery, message.delivery_id).prepared)
        return super().publish(message)

    def lookup(self, message: Message) -> Receipt | None:
        if message.prepared in self.prepared_published:
            return Receipt("by-container", "https://example.test/container")
        return None

    prepared_published: tuple[str, ...] = ()


def test_a_prepared_object_is_recorded_before_the_irreversible_call(cli, store, clock):
    post_id = approved(cli)
    [d] = schedule(cli, post_id, "+1m")
    channel = TwoStep("newsroom", store)
    channel.script.append(raises(OutcomeUnknown("connection lost after publishing")))
    clock.advance(timedelta(minutes=1))
    engine = engine_for(store, clock, {"newsroom": channel}, "daemon:a")
    channel.prepared_published = (f"container-{d['id']}",)  # it did land, by that container
    report = engine.tick()
    assert channel.stored_before_publish == [f"container-{d['id']}"]
    row = deliveries(cli)[d["id"]]
    assert (row["state"], row["remote_url"]) == ("sent", "https://example.test/container")
    assert report.sent == 1
    assert len(channel.prepared) == 1  # settled by asking for the container, not a search


def test_the_claim_bounds_the_lookup(cli, store, clock, hook):
    post_id = approved(cli)
    [d] = schedule(cli, post_id, "+1m")
    clock.advance(timedelta(minutes=1))
    [claim] = engine_for(store, clock, {"newsroom": hook}, "daemon:a").claim_due(5)
    assert claim.message.not_before == clock.now() - timedelta(minutes=2)
    assert claim.message.delivery_id == d["id"]


@pytest.mark.parametrize(
    ("daemon", "expected"),
    [
        (
            'lease = "20s"\nsend_deadline = "15s"',
            "[daemon] lease: expected at least twice [daemon] send_deadline (15s), so a lease"
            " outlives every send, got '20s'",
        ),
        (
            'send_deadline = "45s"',
            "[daemon] lease: expected at least twice [daemon] send_deadline (45s), so a lease"
            " outlives every send, got '60s'",
        ),
    ],
)
def test_a_lease_shorter_than_twice_the_send_deadline_is_refused(
    tmp_path: Path, daemon: str, expected: str
):
    path = tmp_path / "config.toml"
    path.write_text(f"[daemon]\n{daemon}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load(path)
    assert str(refused.value) == f"{path}: {expected}"


def test_the_send_deadline_defaults_to_40_percent_of_the_lease(tmp_path: Path):
    path = tmp_path / "config.toml"
    path.write_text('[daemon]\nlease = "10s"\n', encoding="utf-8")
    assert load(path).daemon.send_deadline == timedelta(seconds=4)


SLACK = """
[channels.slack]
type = "slack"
url = "{url}"
channel = "C0123456789"
token_env = "SIGNPOST_TEST_SLACK_TOKEN"
"""


def test_a_weekly_posts_lost_second_send_is_not_taken_for_last_weeks(
    cli, store, config_file: Path, clock: FrozenClock, monkeypatch
):
    """Slack cannot deduplicate; its lookup is bounded by the claim, so last week's copy of
    the same words is no proof that this week's went out (it would be a silent loss)."""
    import httpx

    from scheduler.workspace import Workspace, make_engine
    from tests.fakes.slack import FakeSlack

    with FakeSlack(clock=clock) as fake, httpx.Client(timeout=5) as client:
        with config_file.open("a", encoding="utf-8") as out:
            out.write(SLACK.format(url=fake.api_url))
        monkeypatch.setenv("SIGNPOST_TEST_SLACK_TOKEN", fake.token)
        post_id = approved(cli)
        made = schedule(cli, post_id, "+1m", "slack", "--rrule", "FREQ=WEEKLY;COUNT=2")
        ws = Workspace.open(config_file, clock)
        try:
            engine = make_engine(ws, client, "daemon:test")
            clock.advance(timedelta(minutes=1))
            assert engine.tick().sent == 1
            clock.advance(timedelta(days=7))
            fake.drop_next(processed=False)  # this week's request is lost on the way
            report = engine.tick()  # "confirms it was not sent", so sent again at once
            assert (report.sent, report.retrying) == (1, 1)
        finally:
            ws.store.close()
        rows = deliveries(cli)
        week1, week2 = (rows[d["id"]] for d in made)
        assert (week1["state"], week2["state"]) == ("sent", "sent")
        assert week1["remote_id"] != week2["remote_id"]
        assert len(fake.messages) == 2


@pytest.mark.parametrize(("attempts", "warned"), [(8, False), (14, True)])
def test_the_daemon_warns_at_start_when_retries_would_last_more_than_a_day(
    cli, store, clock, hook, caplog, attempts: int, warned: bool
):
    """8 attempts from 30 s retry for about an hour; 14 would retry for about 2.8 days."""
    from scheduler.daemon import Daemon

    settings = DaemonSettings(max_attempts=attempts)
    daemon = Daemon(
        engine=engine_for(store, clock, {"newsroom": hook}, "daemon:w", settings),
        sync_interval=0.05,
        health=None,
    )
    daemon.stop_event.set()  # one start, no passes: the warning comes before the loop
    with caplog.at_level("WARNING", logger="signpost.daemon"):
        daemon.run()
    said = [r.getMessage() for r in caplog.records if "keeps retrying" in r.getMessage()]
    assert bool(said) is warned
    if warned:
        assert said[0].startswith("[daemon] max_attempts 14 with retry_base 0:00:30: a failing")
        assert "2 days, 20:15:30" in said[0]


class Monotonic:
    """The engine's monotonic clock: real time, plus jumps a slow lookup makes at once."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset


class SlowLookups(FakeChannel):
    """Every send's outcome is unknown, and asking takes most of a send deadline."""

    def __init__(self, name: str, clock: Monotonic, takes: float) -> None:
        super().__init__(name, can_look_up=True)
        self.clock, self.takes = clock, takes
        self.script = [raises(OutcomeUnknown("connection reset"))] * 3

    def lookup(self, message: Message) -> Receipt | None:
        self.clock.offset += self.takes  # the lookup "took" this long
        return super().lookup(message)


def test_leases_are_renewed_between_slow_lookups_while_another_send_runs(cli, store, clock):
    """Three unknown outcomes looked up one after another take longer than a lease; the
    send still running beside them must keep its lease all the while, or another daemon
    could take it over and settle a send that is still in flight."""
    settings = DaemonSettings(
        grace=timedelta(minutes=15),
        lease=timedelta(seconds=4),  # renewed every 1 s
        send_deadline=timedelta(seconds=1.5),
        max_attempts=3,
        retry_base=timedelta(seconds=30),
    )
    monotonic = Monotonic()
    post_id = approved(cli)
    schedule(cli, post_id, "+1m", "newsroom")
    for n in (1, 2, 3):
        schedule(cli, post_id, f"+{n}s", "feed", "--again")
    slow = SlowChannel("newsroom")
    lost = SlowLookups("feed", monotonic, takes=1.4)  # 3 x 1.4 s > the 4 s lease
    engine = engine_for(store, clock, {"newsroom": slow, "feed": lost}, "daemon:a", settings)
    engine.monotonic = monotonic
    renewals = [monotonic()]  # the claim sets the leases
    renew = engine._renew

    def noted(ids: list[int]) -> None:
        renewals.append(monotonic())
        renew(ids)

    engine._renew = noted
    clock.advance(timedelta(minutes=1))
    running = threading.Thread(target=engine.run_due, kwargs={"batch": 4})
    running.start()
    try:
        assert slow.entered.wait(10)
        for _ in range(500):  # until all three lookups are done (real time)
            if len(lost.sent) == 3 and monotonic.offset >= 3 * 1.4:
                break
            time.sleep(0.01)
        renewals.append(monotonic())  # now, the slow send still running
    finally:
        slow.release.set()
        running.join(10)
    gaps = [b - a for a, b in itertools.pairwise(renewals)]
    assert max(gaps) < settings.lease.total_seconds(), gaps
    assert deliveries(cli)[1]["state"] == "sent"
