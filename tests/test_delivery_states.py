"""A stateful property test of the whole delivery life: what people do, what channels answer,
what daemons do and how they die, in any order.

Hypothesis drives people through the real CLI (add, submit, approve with the right or a
stale ``--revision``, edit, schedule with and without ``--again``, pause, resume, cancel a
post or a delivery, reschedule, retry, resolve), a real ``scheduler.delivery.Engine`` on a
frozen clock, scripted channel answers and daemon crashes (a claim whose daemon dies before
recording, with or without the post having landed). Everything runs against a real SQLite
database in a temporary directory. After every step:

- **never sent unapproved**: each publish carries the words of the revision claimed for
  it, and that revision was approved; each claim's content hash is one an approval had made
  the post's approved hash before the claim (a send in flight when its post is edited or
  cancelled cannot be called back, so "approved" means at the claim);
- **never two sends on a non-deduplicating channel for one delivery** (the fake counts what
  really landed), and a delivery is recorded ``sent`` only where it landed;
- **the audit log explains every state**: replayed from each delivery's creation, each
  event's ``from`` is the state the previous one left, each move is allowed by
  ``lifecycle.TRANSITIONS``, and the replay ends in the state stored;
- **a cancelled post is never published afterwards**.

At the end, after a long wait with the daemon ticking, every delivery has **ended or waits
for a person** (``uncertain``). SQLite only: a property of the rules, not of the engine.
"""

from __future__ import annotations

import atexit
import json
import random
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from unittest import mock

import sqlalchemy as sa
import typer.main
import typer.testing
from hypothesis import HealthCheck, currently_in_test_context, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)
from sqlmodel import select
from typer import _click as click

from channels.base import Message, OutcomeUnknown, PermanentError, Receipt, TransientError
from posts import lifecycle
from posts.models import Approval, AuditEvent, Delivery, DeliveryState, Post, PostState, Revision
from posts.store import Store
from scheduler.cli import app
from scheduler.clock import FrozenClock
from scheduler.config import DaemonSettings
from scheduler.delivery import Claim, Engine
from tests.conftest import team_config

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CHANNELS = ("newsroom", "feed")  # a webhook we pretend cannot deduplicate; a feed that does
ENDED_OR_A_PERSONS = {
    DeliveryState.sent,
    DeliveryState.failed,
    DeliveryState.missed,
    DeliveryState.cancelled,
    DeliveryState.uncertain,
}
#: what the next publish on a channel does (None: it lands and answers with a receipt)
ANSWERS = ("transient", "permanent", "lost_before", "lost_after")


@dataclass
class RecordingChannel:
    """A fake channel that records what really landed, per delivery, and checks each send.

    ``deduplicates``: a resend with a key that already landed lands nothing new. Neither
    fake can be asked afterwards whether a post exists (``lookup`` cannot tell), so an
    unknown outcome is settled by a resend with the same key where the channel
    deduplicates, and by a person everywhere else.
    """

    name: str
    deduplicates: bool
    on_send: Callable[[Message], None]  # the test's check of what is being sent
    type: str = "fake"
    script: list[str] = field(default_factory=list)
    landed: Counter[int] = field(default_factory=Counter)  # delivery id -> posts made
    keys: dict[int, set[str]] = field(default_factory=dict)

    def publish(self, message: Message) -> Receipt:
        self.on_send(message)
        answer = self.script.pop(0) if self.script else None
        if answer == "transient":
            raise TransientError(f"{self.name}: 503")
        if answer == "permanent":
            raise PermanentError(f"{self.name}: 400")
        if answer == "lost_before":
            raise OutcomeUnknown(f"{self.name}: connection reset before the request")
        self.land(message)
        if answer == "lost_after":
            raise OutcomeUnknown(f"{self.name}: connection lost after sending")
        return Receipt(remote_id=f"r-{message.delivery_id}", remote_url=self.url(message))

    def land(self, message: Message) -> None:
        keys = self.keys.setdefault(message.delivery_id, set())
        if not (self.deduplicates and message.idempotency_key in keys):
            self.landed[message.delivery_id] += 1
        keys.add(message.idempotency_key)

    def url(self, message: Message) -> str:
        return f"https://{self.name}.example/{message.delivery_id}"

    def lookup(self, message: Message) -> Receipt | None:
        raise OutcomeUnknown(f"{self.name}: cannot tell")

    def check(self) -> str:
        return "ok"


@cache
def template() -> Path:
    """An initialised database with one campaign, made once and copied for each example."""
    folder = Path(tempfile.mkdtemp(prefix="signpost-states-template-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    config = folder / "config.toml"
    team_config(f"sqlite:///{folder}/signpost.db").write(config)
    runner = typer.testing.CliRunner()
    for actor, *args in (
        ("carol", "init"),
        ("carol", "campaign", "add", "c", "--name", "C", "--tz", "UTC"),
    ):
        result = runner.invoke(app, ["--config", str(config), *args], env={"SIGNPOST_ACTOR": actor})
        assert result.exit_code == 0, result.output
    return folder / "signpost.db"


@cache
def click_command() -> click.Command:
    """Typer's click command for the app, built once (typer rebuilds it on every invoke)."""
    return typer.main.get_command(app)


class DeliveryStates(RuleBasedStateMachine):
    """People, channels and a daemon acting on one campaign in any order."""

    posts = Bundle("posts")
    deliveries = Bundle("deliveries")

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="signpost-states-"))
        shutil.copy(template(), self.folder / "signpost.db")
        self.url = f"sqlite:///{self.folder}/signpost.db"
        self.config = self.folder / "config.toml"
        team_config(self.url).write(self.config)
        # typer rebuilds the click command on every invoke; the app does not change
        self._fast_cli = mock.patch.object(
            typer.testing, "_get_command", lambda _app: click_command()
        )
        self._fast_cli.start()
        self.runner = typer.testing.CliRunner()
        self.clock = FrozenClock(START)
        self.store = Store(self.url)
        self.channels = {
            name: RecordingChannel(name, deduplicates=name == "feed", on_send=self.check_send)
            for name in CHANNELS
        }
        self.settings = DaemonSettings(
            grace=timedelta(minutes=15),
            lease=timedelta(seconds=60),
            max_attempts=3,
            retry_base=timedelta(seconds=30),
        )
        self.engine = Engine(
            store=self.store,
            settings=self.settings,
            clock=self.clock,
            channels=self.channels,
            owner="daemon:a",
            rng=random.Random(0),
            workers=1,
        )
        self.slow = replace(self.engine, owner="daemon:slow")  # sends that take a while
        self.in_flight: list[Claim] = []
        self.texts = 0
        self.seq = 0  # audit events replayed so far
        self.replayed: dict[int, str] = {}  # delivery id -> state the log says it is in
        self.cancelled_posts: set[int] = set()
        self.approved_hashes: dict[int, set[str]] = {}  # post id -> hashes approved so far
        self.post_of: dict[int, int] = {}  # delivery id -> its post
        # What the channels saw sent unapproved. Recorded, not raised: the engine turns
        # anything an adapter raises into an unknown outcome, which would hide it.
        self.unapproved: list[str] = []

    def teardown(self) -> None:
        try:
            self.settle_everything()
        finally:
            self._fast_cli.stop()
            self.store.close()
            shutil.rmtree(self.folder, ignore_errors=True)

    # --- helpers --------------------------------------------------------------------------

    def cli(self, actor: str, *args: str) -> dict | list | None:
        """Run one command; a refusal (exit 1 or 3) is a fine answer, anything else is not."""
        result = self.runner.invoke(
            app,
            ["--config", str(self.config), *args],
            env={"SIGNPOST_ACTOR": actor},
            obj={"clock": self.clock},
        )
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        assert result.exit_code in (0, 1, 3), (args, result.exit_code, result.stderr)
        if result.exit_code != 0 or "json" not in args:
            return None
        return json.loads(result.stdout)

    def check_send(self, message: Message) -> None:
        """Checked by the channel at the moment of sending: these are approved words."""
        try:
            self._check_send(message)
        except Exception as exc:  # noqa: BLE001 - any failure of the check is a finding
            self.unapproved.append(f"delivery {message.delivery_id}: {exc!r}")

    def _check_send(self, message: Message) -> None:
        """The text is that of the revision claimed for sending, whose hash was approved.

        Approved when claimed, not necessarily now: a send in flight when its post is
        edited or cancelled cannot be called back (the claim itself is checked against the
        approvals of that moment in the audit replay).
        """
        with self.store.read() as session:
            delivery = session.get(Delivery, message.delivery_id)
            revision = session.exec(
                select(Revision).where(
                    Revision.post_id == delivery.post_id,
                    Revision.content_hash == delivery.sent_hash,
                )
            ).first()
            assert revision is not None, "the claimed hash is none of the post's revisions"
            assert message.text == revision.text, "sent words are not the claimed revision's"
            approvals = session.exec(
                select(Approval.id).where(
                    Approval.post_id == delivery.post_id,
                    Approval.content_hash == delivery.sent_hash,
                    Approval.decision == "approve",
                )
            ).all()
            assert approvals, f"revision {revision.number} was never approved"

    # --- people ---------------------------------------------------------------------------

    @initialize(target=posts)
    def first_post(self) -> int:
        return self.approved_post()

    @rule(target=posts)
    def approved_post(self) -> int:
        """The common case in one step, so most runs get as far as sending."""
        post = self.add_post()
        self.submit(post)
        self.approve(post, "bob", stale=False)
        return post

    @rule(target=posts)
    def add_post(self) -> int:
        self.texts += 1
        made = self.cli(
            "alice", "post", "add", "--campaign", "c", "--text", f"Post {self.texts}", "-f", "json"
        )
        return made["id"]

    @rule(post=posts)
    def submit(self, post: int) -> None:
        self.cli("alice", "post", "submit", str(post))

    @rule(post=posts, approver=st.sampled_from(["bob", "dave"]), stale=st.booleans())
    def approve(self, post: int, approver: str, stale: bool) -> None:
        with self.store.read() as session:
            revision = session.get(Post, post).revision
        seen = revision - 1 if stale and revision > 1 else revision
        self.cli(approver, "post", "approve", str(post), "--revision", str(seen))

    @rule(post=posts)
    def edit(self, post: int) -> None:
        self.texts += 1
        self.cli("alice", "post", "edit", str(post), "--text", f"Post edited {self.texts}")

    @rule(
        target=deliveries,
        post=posts,
        where=st.sampled_from(["newsroom", "feed", "newsroom,feed"]),
        minutes=st.integers(1, 30),
        again=st.booleans(),
    )
    def schedule(self, post: int, where: str, minutes: int, again: bool) -> MultipleResults:
        made = self.cli(
            "alice",
            "post",
            "schedule",
            str(post),
            "--at",
            f"+{minutes}m",
            "--channels",
            where,
            *(["--again"] if again else []),
            "-f",
            "json",
        )
        return multiple(*(d["id"] for d in made["deliveries"])) if made else multiple()

    @rule(
        lift=st.booleans(),
        scope=st.sampled_from([(), ("--channel", "newsroom"), ("--campaign", "c")]),
    )
    def pause_or_resume(self, lift: bool, scope: tuple[str, ...]) -> None:
        if lift:
            self.cli("carol", "resume", *scope)
        else:
            self.cli("carol", "pause", *scope, "--reason", "checking")

    @rule(post=posts)
    def cancel_post(self, post: int) -> None:
        self.cli("alice", "post", "cancel", str(post))

    @rule(delivery=deliveries)
    def cancel_delivery(self, delivery: int) -> None:
        self.cli("carol", "deliveries", "cancel", str(delivery), "--reason", "not now")

    @rule(delivery=deliveries, minutes=st.integers(1, 90))
    def reschedule(self, delivery: int, minutes: int) -> None:
        self.cli("carol", "deliveries", "reschedule", str(delivery), "--at", f"+{minutes}m")

    @rule(delivery=deliveries)
    def retry(self, delivery: int) -> None:
        """A person retries on purpose; an ``uncertain`` delivery only after checking the
        channel by hand, as ``deliveries retry --help`` asks of them: one that did land they settle
        with ``resolve`` instead (a retry of it would rightly post it twice)."""
        with self.store.read() as session:
            found = session.get(Delivery, delivery)
            checked = found.state == DeliveryState.uncertain
            landed = self.channels[found.channel].landed[delivery]
        if checked and landed:
            self.resolve(delivery)
        else:
            self.cli("carol", "deliveries", "retry", str(delivery))

    @rule(delivery=deliveries)
    def resolve(self, delivery: int) -> None:
        """A person checks the channel by hand and says truthfully what they found."""
        with self.store.read() as session:
            name = session.get(Delivery, delivery).channel
        if self.channels[name].landed[delivery]:
            answer = ["--sent", f"https://{name}.example/{delivery}"]
        else:
            answer = ["--not-sent"]
        self.cli("carol", "deliveries", "resolve", str(delivery), *answer)

    # --- channels and daemons ---------------------------------------------------------------

    @rule(channel=st.sampled_from(CHANNELS), answer=st.sampled_from(ANSWERS))
    def next_answer(self, channel: str, answer: str) -> None:
        self.channels[channel].script.append(answer)

    @rule(wait=st.sampled_from([timedelta(0), timedelta(seconds=30), timedelta(minutes=20)]))
    def tick(self, wait: timedelta) -> None:
        """The daemon's pass, now or after a while (20 minutes: past the grace period)."""
        self.clock.advance(wait)
        self.engine.tick()

    @rule(minutes=st.integers(1, 10))
    def tick_soon(self, minutes: int) -> None:
        """A second way to tick, so the daemon runs about as often as people act."""
        self.tick(timedelta(minutes=minutes))

    @rule()
    def start_send(self) -> None:
        """A second daemon claims the next delivery when it falls due (the clock moves on to
        it) and starts a slow send: people act meanwhile."""
        with self.store.read() as session:
            due = session.exec(
                select(sa.func.min(Delivery.due)).where(
                    Delivery.state == DeliveryState.pending, Delivery.due > self.clock.now()
                )
            ).one()
        if due is not None:
            self.clock.advance(due - self.clock.now())
        self.in_flight += self.slow.claim_due(1)

    @precondition(lambda self: self.in_flight)
    @rule()
    def finish_send(self) -> None:
        """The slow sends complete and are recorded (unless their lease was taken over)."""
        while self.in_flight:
            self.slow.send(self.in_flight.pop(0))

    @precondition(lambda self: self.in_flight)
    @rule(landed=st.booleans())
    def crash(self, landed: bool) -> None:
        """The slow daemon dies: its sends may have landed, nothing is recorded, and its
        leases run out (the next pass takes them over)."""
        for claim in self.in_flight:
            if landed:
                self.check_send(claim.message)
                self.channels[claim.channel].land(claim.message)
        self.in_flight.clear()

    # --- invariants ------------------------------------------------------------------------

    @invariant()
    def never_sent_unapproved(self) -> None:
        assert not self.unapproved, self.unapproved

    @invariant()
    def never_two_posts_on_a_channel_that_cannot_deduplicate(self) -> None:
        for channel in self.channels.values():
            assert all(n <= 1 for n in channel.landed.values()), (channel.name, channel.landed)
            assert all(len(keys) == 1 for keys in channel.keys.values()), "a delivery's key changed"
        with self.store.read() as session:
            sent = session.exec(
                select(Delivery.id, Delivery.channel).where(Delivery.state == DeliveryState.sent)
            ).all()
        for delivery_id, channel in sent:
            assert self.channels[channel].landed[delivery_id] == 1, f"{delivery_id} never landed"

    @invariant()
    def the_audit_log_explains_every_state(self) -> None:
        with self.store.read() as session:
            events = session.exec(
                select(AuditEvent).where(AuditEvent.seq > self.seq).order_by(AuditEvent.seq)
            ).all()
            stored = dict(session.exec(select(Delivery.id, Delivery.state)).all())
            self._replay(events)  # inside: the rows expire when the session ends
        assert self.replayed == stored

    def _replay(self, events: list[AuditEvent]) -> None:
        """Apply new events to the replayed states, checking each move and each claim."""
        approved, owner = self.approved_hashes, self.post_of
        for logged in events:
            self.seq = logged.seq
            details = json.loads(logged.details)
            kind, _, ident = logged.subject.partition(":")
            if logged.action == "post.schedule":
                for made in details["deliveries"]:
                    assert made["id"] not in self.replayed, "a delivery created twice"
                    self.replayed[made["id"]] = made["state"]
                    owner[made["id"]] = int(ident)
            elif logged.action == "post.approve" and details.get("to") == PostState.approved:
                approved.setdefault(int(ident), set()).add(details["content_hash"])
            elif logged.action == "post.cancel":
                self.cancelled_posts.add(int(ident))
            elif logged.action == "post.publish":
                assert int(ident) not in self.cancelled_posts, f"cancelled post {ident} published"
            elif kind == "delivery" and "to" in details:
                delivery_id = int(ident)
                source, target = details["from"], details["to"]
                assert self.replayed.get(delivery_id) == source, (logged.action, delivery_id)
                assert lifecycle.allowed(DeliveryState(source), DeliveryState(target)), (
                    f"{logged.action}: {source} → {target} is not in the table"
                )
                self.replayed[delivery_id] = target
                if logged.action == "delivery.claim":
                    post_id = owner[delivery_id]
                    assert details["content_hash"] in approved.get(post_id, set()), (
                        f"delivery {delivery_id} claimed with a hash post {post_id} never had"
                        " approved"
                    )

    def settle_everything(self) -> None:
        """Resume everything, then let the daemon run for days: nothing may stay in between."""
        self.crash(landed=False)
        for scope in ((), ("--channel", "newsroom"), ("--campaign", "c")):
            self.cli("carol", "resume", *scope)
        for wait in [timedelta(minutes=2)] * 20 + [timedelta(hours=6)] * 8:
            self.clock.advance(wait)
            self.engine.tick()
        self.never_sent_unapproved()
        self.the_audit_log_explains_every_state()
        self.never_two_posts_on_a_channel_that_cannot_deduplicate()
        with self.store.read() as session:
            left = dict(session.exec(select(Delivery.id, Delivery.state)).all())
        for state in sorted(set(left.values())) if currently_in_test_context() else ():
            event(f"a delivery ended {state}")  # coverage, with --hypothesis-show-statistics
        stuck = {i: s for i, s in left.items() if s not in ENDED_OR_A_PERSONS}
        assert not stuck, f"deliveries neither ended nor waiting for a person: {stuck}"


TestDeliveryStates = DeliveryStates.TestCase
TestDeliveryStates.settings = settings(
    max_examples=20,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_a_post_cancelled_mid_send_through_the_machine() -> None:
    """The sequence of issue 10, step by step through the machine's own rules and checks
    (random runs find it rarely: it needs four particular steps in order)."""
    machine = DeliveryStates()
    try:
        post = machine.approved_post()
        [delivery] = machine.schedule(post, "newsroom", 5, again=False).values
        machine.start_send()
        machine.cancel_post(post)
        machine.finish_send()
        for check in (
            machine.never_sent_unapproved,
            machine.never_two_posts_on_a_channel_that_cannot_deduplicate,
            machine.the_audit_log_explains_every_state,
        ):
            check()
        assert machine.channels["newsroom"].landed[delivery] == 1
        assert post in machine.cancelled_posts
    finally:
        machine.teardown()
