"""What you see is what you approve (issue 9): the preview, pinned approvals, intended
channels, no accidental second schedule, and undo.

Each test is a user's story through the CLI against a real database; the sends go through
the real engine and composer to a real webhook receiver on 127.0.0.1 where it matters.
"""

from __future__ import annotations

import base64
import json
import os
import pty
import random
import select
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from channels import registry
from channels.base import Message, Receipt
from posts.store import Store
from scheduler.clock import FrozenClock
from scheduler.config import DaemonSettings, load
from scheduler.delivery import Engine
from scheduler.workspace import Workspace, make_engine
from tests.conftest import FUTURE_CHANNEL, HELPLINE, Signpost, add_post, dump
from tests.database import TestDatabase
from tests.peers import WebhookReceiver
from tests.shared import as_json, on_clock, schedule, schedule_post

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday, GMT
TEXT = f"Worried about what you look at online? Confidential help: {HELPLINE}."
LINK = "https://www.stopitnow.org.uk/get-help"

#: one channel of every publishing type the conftest config does not already have
MORE_CHANNELS = """
[channels.briefing]
type = "email"
host = "127.0.0.1"
port = 9
mode = "starttls"
username = "signpost"
token_env = "SIGNPOST_TEST_SMTP_PASSWORD"
from = "Signpost <signpost@stopitnow.example>"
to = ["team@stopitnow.example"]

[channels.matrix]
type = "matrix"
url = "https://matrix.example"
room = "!room:matrix.example"
token_env = "SIGNPOST_TEST_MATRIX_TOKEN"

[channels.discord]
type = "discord"
token_env = "SIGNPOST_TEST_DISCORD_URL"

[channels.slack]
type = "slack"
channel = "C0123456789"
token_env = "SIGNPOST_TEST_SLACK_TOKEN"

[channels.threads]
type = "threads"
user_id = "17841400000000001"
token_env = "SIGNPOST_TEST_THREADS_TOKEN"

[channels.page]
type = "facebook"
page_id = "104000000000001"
token_env = "SIGNPOST_TEST_FACEBOOK_TOKEN"

[channels.linkedin]
type = "linkedin"
author = "urn:li:organization:2414183"
token_env = "SIGNPOST_TEST_LINKEDIN_TOKEN"

[channels.instagram]
type = "instagram"
ig_user_id = "17841405822304914"
token_env = "SIGNPOST_TEST_INSTAGRAM_TOKEN"

[media]
public_dir = "public"
public_url = "https://www.example.org/media"
"""


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def at(signpost: Signpost, campaign: str, clock: FrozenClock) -> Signpost:
    """The CLI with the test's frozen clock."""
    return on_clock(signpost, clock)


def ok(result):
    assert result.exit_code == 0, result.stderr
    return result


def submitted(at: Signpost, text: str = TEXT, *extra: str) -> dict:
    post = add_post(at, text, "--link", LINK, *extra)
    ok(at("alice", "post", "submit", str(post["id"])))
    return post


def preview(at: Signpost, post_id: int, *extra: str) -> dict:
    return as_json(at("bob", "post", "preview", str(post_id), *extra, "--format", "json"))


def events(at: Signpost, post_id: int) -> list[dict]:
    return as_json(at("bob", "audit", "log", "--post", str(post_id), "--format", "json"))


# --- approval pinned to what was seen -------------------------------------------------------


def test_an_edit_between_looking_and_approving_is_refused_then_the_new_one_approved(
    at: Signpost, clock: FrozenClock, db_path: TestDatabase
):
    post = submitted(at, TEXT, "--channels", "newsroom,mastodon")
    seen = preview(at, post["id"])
    assert seen["revision"] == 1
    clock.advance(timedelta(minutes=2))
    ok(at("alice", "post", "edit", str(post["id"]), "--text", TEXT + " Call today."))
    before = dump(db_path)

    refused = at("bob", "post", "approve", str(post["id"]), "--revision", "1")

    assert refused.exit_code == 3
    assert refused.stderr == (
        "error: post 1 changed since revision 1 (revision 2 by alice at 12:02); preview it again\n"
    )
    assert dump(db_path) == before
    again = preview(at, post["id"])
    assert again["revision"] == 2
    assert again["channels"][0]["text"].startswith(TEXT + " Call today.")
    approved = as_json(
        at("bob", "post", "approve", str(post["id"]), "--revision", "2", "-f", "json")
    )
    assert (approved["state"], approved["revision"]) == ("approved", 2)
    [event] = [e for e in events(at, post["id"]) if e["action"] == "post.approve"]
    assert event["details"]["revision"] == 2
    assert event["details"]["content_hash"] == again["content_hash"] == approved["content_hash"]


def test_a_rejection_is_pinned_to_the_revision_seen_too(at: Signpost, db_path: TestDatabase):
    post = submitted(at)
    ok(at("alice", "post", "edit", str(post["id"]), "--text", TEXT + " Tonight."))
    before = dump(db_path)
    refused = at("bob", "post", "reject", str(post["id"]), "--revision", "1", "--comment", "no")
    assert refused.exit_code == 3
    assert "post 1 changed since revision 1 (revision 2 by alice at" in refused.stderr
    assert dump(db_path) == before


def _on_a_terminal(config: Path, answer: bytes, *args: str) -> tuple[int, str]:
    """Run ``signpost`` as bob with a real pseudo-terminal as stdin; answer its question."""
    parent, child = pty.openpty()
    env = {**os.environ, "SIGNPOST_ACTOR": "bob", "COLUMNS": "100", "TERM": "dumb"}
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "signpost"), "--config", str(config), *args],
        stdin=child,
        stdout=child,
        stderr=child,
        env=env,
        close_fds=True,
    )
    os.close(child)
    seen = b""
    answered = False
    while True:
        ready, _, _ = select.select([parent], [], [], 30)
        if not ready:
            proc.kill()
            raise AssertionError(f"no answer from signpost: {seen.decode(errors='replace')}")
        try:
            chunk = os.read(parent, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
        if not answered and b"[y/N]" in seen:
            os.write(parent, answer)
            answered = True
    os.close(parent)
    return proc.wait(timeout=30), seen.decode(errors="replace")


@pytest.mark.parametrize(
    ("answer", "code", "state"), [(b"y\n", 0, "approved"), (b"\n", 1, "submitted")]
)
def test_on_a_terminal_the_preview_is_shown_and_the_question_asked(
    at: Signpost, config_file: Path, answer: bytes, code: int, state: str
):
    post = submitted(at, TEXT, "--channels", "mastodon")
    exit_code, screen = _on_a_terminal(config_file, answer, "post", "approve", str(post["id"]))
    assert exit_code == code, screen
    assert "mastodon (mastodon)" in screen  # the preview panel came first
    assert f"Approve revision 1 of post {post['id']}? [y/N]" in screen
    shown = as_json(at("bob", "post", "show", str(post["id"]), "--format", "json"))
    assert shown["state"] == state
    if code:
        assert "post 1: nothing done (you answered no)" in screen


# --- the preview -----------------------------------------------------------------------------


def test_preview_shows_each_channel_exactly_as_it_goes_out(at: Signpost, tmp_path: Path):
    image = tmp_path / "card.png"
    image.write_bytes(b"\x89PNG fake but hashed")
    post = add_post(
        at,
        TEXT,
        "--link",
        LINK,
        "--image",
        str(image),
        "--alt",
        "The helpline number on a card",
        "--variant",
        f"bluesky=Help, confidential: {HELPLINE}",
        "--channels",
        "newsroom,mastodon,bluesky",
    )
    shown = preview(at, post["id"])
    by_channel = {c["channel"]: c for c in shown["channels"]}
    assert sorted(by_channel) == ["bluesky", "mastodon", "newsroom"]
    tag = "utm_medium=social&utm_campaign=stop-it-now"
    # A webhook carries the link in a field of its own, so the words go alone.
    assert by_channel["newsroom"]["text"] == TEXT
    assert by_channel["newsroom"]["link"] == f"{LINK}?utm_source=webhook&{tag}"
    assert (by_channel["newsroom"]["count"], by_channel["newsroom"]["limit"]) == (None, None)
    # Mastodon: the tagged link appended, counted as 23 however long it is.
    mastodon = by_channel["mastodon"]
    assert mastodon["text"] == f"{TEXT}\n\n{LINK}?utm_source=mastodon&{tag}"
    assert (mastodon["count"], mastodon["limit"]) == (len(TEXT) + 2 + 23, 500)
    # Bluesky gets its variant, measured twice (graphemes and bytes).
    bluesky = by_channel["bluesky"]
    assert bluesky["text"] == f"Help, confidential: {HELPLINE}\n\n{LINK}?utm_source=bluesky&{tag}"
    assert [(m["limit"], m["unit"]) for m in bluesky["limits"]] == [
        (300, "graphemes"),
        (3000, "UTF-8 bytes"),
    ]
    assert bluesky["limits"][0]["count"] == len(bluesky["text"])
    assert mastodon["media"] == [
        {"path": str(image.resolve()), "alt": "The helpline number on a card"}
    ]
    assert all(c["problems"] == [] for c in shown["channels"])
    assert all(c["diff"] is None for c in shown["channels"])


def test_preview_names_a_channels_own_problem_only_there(at: Signpost):
    long = TEXT + " " + "Nobody has to face this alone. " * 8
    post = add_post(at, long)  # meant nowhere yet: measured for every configured channel
    shown = {c["channel"]: c for c in preview(at, post["id"])["channels"]}
    assert sorted(shown) == ["bluesky", "feed", "mastodon", "newsroom", "telegram", "x"]
    assert shown["feed"]["problems"] == []
    [problem] = shown["x"]["problems"]
    assert problem["message"].startswith("too long for x (x): ")
    assert shown["x"]["count"] > shown["x"]["limit"] == 280
    table = ok(at("bob", "post", "preview", str(post["id"])))
    assert "x (x) · " in table.stdout and "/280 weighted characters · 1 problem(s)" in table.stdout
    assert f"signpost post approve {post['id']} --revision 1" in table.stderr


def test_preview_diffs_against_the_last_approved_revision(at: Signpost):
    post = submitted(at, TEXT, "--channels", "mastodon")
    ok(at("bob", "post", "approve", str(post["id"]), "--revision", "1"))
    assert preview(at, post["id"])["channels"][0]["diff"] is None  # approved is current
    ok(at("alice", "post", "edit", str(post["id"]), "--text", TEXT + " Tonight."))
    shown = preview(at, post["id"])
    assert shown["approved_revision"] == 1
    diff = shown["channels"][0]["diff"]
    assert diff[:2] == ["--- revision 1 (approved)", "+++ revision 2"]
    assert f"-{TEXT}" in diff and f"+{TEXT} Tonight." in diff


def test_preview_of_one_channel_and_of_an_unknown_one(at: Signpost):
    post = add_post(at, TEXT, "--channels", "feed")
    only = preview(at, post["id"], "--channel", "telegram")
    assert [c["channel"] for c in only["channels"]] == ["telegram"]
    unknown = at("bob", "post", "preview", str(post["id"]), "--channel", "nope")
    assert unknown.exit_code == 1
    assert unknown.stderr.startswith("error: --channel: no channel named 'nope' (configured: ")


@pytest.fixture
def every_type(config_file: Path) -> Path:
    with config_file.open("a", encoding="utf-8") as out:
        out.write(MORE_CHANNELS)
    return config_file


class Recorder:
    """A channel that keeps what the engine hands it, for any channel type."""

    def __init__(self, name: str, channel_type: str) -> None:
        self.name, self.type = name, channel_type
        self.deduplicates, self.dedup_window = True, None
        self.sent: list[Message] = []

    def publish(self, message: Message) -> Receipt:
        self.sent.append(message)
        return Receipt(f"id-{message.delivery_id}")

    def lookup(self, message: Message) -> Receipt | None:
        return None

    def check(self) -> str:
        return "ok"


def test_the_engine_sends_exactly_what_the_preview_shows_for_every_channel_type(
    at: Signpost, every_type: Path, clock: FrozenClock, tmp_path: Path
):
    settings = load(every_type)
    names = {ch.type: name for name, ch in settings.channels.items()}
    assert set(registry.publishing()) <= set(names)  # every publishing type is here
    image = tmp_path / "card.jpg"  # JPEG: Instagram takes no other
    image.write_bytes(b"\xff\xd8\xff another \xff\xd9")
    post = add_post(
        at,
        f"{TEXT} More: https://www.stopitnow.org.uk/faq",
        "--link",
        LINK,
        "--image",
        str(image),
        "--alt",
        "Helpline card",
        "--variant",
        f"mastodon=Mastodon words: {HELPLINE}",
    )
    publishing = ",".join(names[t] for t in registry.publishing())
    ok(at("alice", "post", "edit", str(post["id"]), "--channels", publishing))
    ok(at("alice", "post", "submit", str(post["id"])))
    ok(at("bob", "post", "approve", str(post["id"]), "--revision", "1"))
    ok(at("alice", "post", "schedule", str(post["id"]), "--at", "+1m"))
    shown = {c["channel"]: c for c in preview(at, post["id"])["channels"]}
    recorders = {names[t]: Recorder(names[t], t) for t in registry.publishing()}
    store = Store(settings.database_url)
    clock.advance(timedelta(minutes=1))
    engine = Engine(
        store=store,
        settings=DaemonSettings(),
        clock=clock,
        channels=recorders,
        owner="daemon:test",
        rng=random.Random(3),
    )
    try:
        assert engine.tick().sent == len(registry.publishing())
    finally:
        store.close()
    for name, recorder in recorders.items():
        [sent] = recorder.sent
        entry = shown[name]
        assert sent.text == entry["text"], name
        assert sent.link == entry["link"], name
        assert [{"path": m.path, "alt": m.alt} for m in sent.media] == entry["media"], name
    assert "Mastodon words" in shown[names["mastodon"]]["text"]
    assert "utm_source=telegram" in shown[names["telegram"]]["text"]


# --- intended channels -------------------------------------------------------------------------


def test_a_post_meant_for_the_feed_is_not_refused_for_xs_280(at: Signpost, db_path: TestDatabase):
    long = TEXT + " " + "Nobody has to face this alone. " * 8
    everywhere = add_post(at, long)
    check = at("alice", "post", "check", str(everywhere["id"]))
    assert check.exit_code == 1
    assert "too long for x (x)" in check.stdout
    meant = add_post(at, long, "--channels", "feed,newsroom")
    assert meant["channels"] == ["feed", "newsroom"]
    ok(at("alice", "post", "check", str(meant["id"])))
    ok(at("alice", "post", "submit", str(meant["id"])))
    ok(at("bob", "post", "approve", str(meant["id"]), "--revision", "1"))
    scheduled = as_json(
        at("alice", "post", "schedule", str(meant["id"]), "--at", "+1h", "--format", "json")
    )
    assert sorted(d["channel"] for d in scheduled["deliveries"]) == ["feed", "newsroom"]


def test_changing_only_the_intended_channels_is_no_new_revision(at: Signpost):
    post = submitted(at, TEXT, "--channels", "feed")
    ok(at("bob", "post", "approve", str(post["id"]), "--revision", "1"))
    edited = as_json(
        at("alice", "post", "edit", str(post["id"]), "--channels", "newsroom", "-f", "json")
    )
    assert (edited["revision"], edited["state"], edited["channels"]) == (
        1,
        "approved",
        ["newsroom"],
    )
    [event] = [e for e in events(at, post["id"]) if e["action"] == "post.channels"]
    assert event["details"] == {"from": ["feed"], "to": ["newsroom"]}


@pytest.mark.parametrize(
    ("channels", "expected"),
    [
        ("feed,nope", "--channels: no channel named 'nope' (configured: "),
        (
            "page",
            "--channels: page is a pigeon channel, which cannot publish yet (publishing types: ",
        ),
    ],
)
def test_intended_channels_must_be_able_to_publish(
    at: Signpost,
    db_path: TestDatabase,
    config_file: Path,
    future_type: str,
    channels: str,
    expected: str,
):
    with config_file.open("a", encoding="utf-8") as out:
        out.write(FUTURE_CHANNEL)
    before = dump(db_path)
    result = at(
        "alice", "post", "add", "--campaign", "stop-it-now", "--text", TEXT, "--channels", channels
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {expected}")
    assert dump(db_path) == before


def test_schedule_without_channels_and_without_intended_ones_says_how(at: Signpost):
    post = add_post(at, TEXT)
    result = at("alice", "post", "schedule", str(post["id"]), "--at", "+1h")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: --channels: name at least one channel; post 1 has no intended channels to"
        " default to (set them with 'signpost post edit 1 --channels a,b')\n"
    )


# --- no accidental second schedule ---------------------------------------------------------------


def test_a_second_schedule_is_refused_unless_again(at: Signpost, db_path: TestDatabase):
    post = submitted(at)
    [delivery] = schedule(at, post["id"], "2026-03-03 09:00")
    before = dump(db_path)
    slip = schedule_post(at, post["id"], "2026-03-04 10:00", "feed,newsroom")
    assert slip.exit_code == 1
    assert slip.stderr == (
        f"error: post 1 already has delivery {delivery['id']} on newsroom (held, due"
        " 2026-03-03 09:00 GMT): move it with 'signpost deliveries reschedule"
        f" {delivery['id']} --at WHEN', cancel it with 'signpost deliveries cancel"
        f" {delivery['id']}', or give --again to post it twice\n"
    )
    assert dump(db_path) == before
    [second] = schedule(at, post["id"], "2026-03-04 10:00", "newsroom", "--again")
    assert second["idempotency_key"] != delivery["idempotency_key"]
    [event] = [e for e in events(at, post["id"]) if e["details"].get("again")]
    assert event["details"]["deliveries"][0]["id"] == second["id"]


def test_a_series_is_one_schedule(at: Signpost):
    post = submitted(at)
    made = schedule(at, post["id"], "2026-03-03 09:00", "feed", "--rrule", "FREQ=WEEKLY;COUNT=3")
    assert [d["due_local"] for d in made] == [
        "2026-03-03 09:00 GMT",
        "2026-03-10 09:00 GMT",
        "2026-03-17 09:00 GMT",
    ]


def test_scheduling_outside_the_campaigns_days_is_refused(at: Signpost, db_path: TestDatabase):
    ok(
        at(
            "carol",
            "campaign",
            "edit",
            "stop-it-now",
            "--start",
            "2026-03-05",
            "--end",
            "2026-03-31",
        )
    )
    post = submitted(at)
    before = dump(db_path)
    early = schedule_post(at, post["id"], "2026-03-04 23:30", "feed")
    assert early.exit_code == 1
    assert early.stderr == (
        "error: --at 2026-03-04T23:30:00+00:00 is before campaign 'stop-it-now' starts"
        " (2026-03-05); change it with 'signpost campaign edit'\n"
    )
    late = schedule_post(at, post["id"], "2026-04-01 00:30", "feed")
    assert late.exit_code == 1
    assert "is after campaign 'stop-it-now' ends (2026-03-31)" in late.stderr
    assert dump(db_path) == before
    ok(schedule_post(at, post["id"], "2026-03-31 23:30", "feed"))


# --- undo: cancel and reschedule, against a real receiver ---------------------------------------


@pytest.fixture
def wired(config_file: Path, webhook_receiver: WebhookReceiver, monkeypatch) -> Path:
    """The newsroom webhook pointed at a real receiver on 127.0.0.1."""
    text = config_file.read_text(encoding="utf-8")
    config_file.write_text(
        text.replace("http://127.0.0.1:9/hook", f"{webhook_receiver.url}/hook"), encoding="utf-8"
    )
    secret = "whsec_" + base64.b64encode(b"x" * 32).decode()
    monkeypatch.setenv("SIGNPOST_TEST_WEBHOOK_SECRET", secret)
    return config_file


def run_daemon(config: Path, clock: FrozenClock) -> None:
    """One pass of the real engine with the real webhook adapter."""
    ws = Workspace.open(config, clock)
    try:
        with httpx.Client(timeout=5) as client:
            make_engine(ws, client, "daemon:test").tick()
    finally:
        ws.store.close()


def bodies(receiver: WebhookReceiver) -> list[dict]:
    return [json.loads(r.body) for r in receiver.requests]


def test_a_cancelled_delivery_never_reaches_the_receiver(
    at: Signpost, wired: Path, clock: FrozenClock, webhook_receiver: WebhookReceiver
):
    post = submitted(at)
    ok(at("bob", "post", "approve", str(post["id"]), "--revision", "1"))
    made = schedule(at, post["id"], "+10m", "newsroom,feed")
    hook = next(d for d in made if d["channel"] == "newsroom")
    cancelled = as_json(
        at("bob", "deliveries", "cancel", str(hook["id"]), "--reason", "wrong day", "-f", "json")
    )
    assert cancelled["state"] == "cancelled"
    clock.advance(timedelta(minutes=10))
    run_daemon(wired, clock)
    assert webhook_receiver.requests == []
    rows = {d["channel"]: d for d in as_json(at("bob", "deliveries", "list", "-f", "json"))}
    assert (rows["newsroom"]["state"], rows["feed"]["state"]) == ("cancelled", "sent")
    shown = as_json(at("bob", "post", "show", str(post["id"]), "-f", "json"))
    assert shown["state"] == "published"  # what was left of it went out
    log = as_json(at("bob", "audit", "log", "--format", "json"))
    [event] = [e for e in log if e["action"] == "delivery.cancel"]
    assert event["subject"] == f"delivery:{hook['id']}"
    assert event["details"] == {
        "from": "pending",
        "to": "cancelled",
        "channel": "newsroom",
        "reason": "wrong day",
    }
    again = at("bob", "deliveries", "cancel", str(hook["id"]))
    assert again.exit_code == 3
    assert "delivery 1 is cancelled; only pending, held or retry_wait" in again.stderr


def test_a_missed_delivery_rescheduled_arrives_once_with_the_same_key(
    at: Signpost, wired: Path, clock: FrozenClock, webhook_receiver: WebhookReceiver
):
    post = submitted(at)
    ok(at("bob", "post", "approve", str(post["id"]), "--revision", "1"))
    [made] = schedule(at, post["id"], "+5m")
    clock.advance(timedelta(hours=1))  # the daemon was down: far past the grace
    run_daemon(wired, clock)
    [missed] = as_json(at("bob", "deliveries", "list", "-f", "json"))
    assert missed["state"] == "missed"
    assert webhook_receiver.requests == []
    moved = as_json(
        at("alice", "deliveries", "reschedule", str(made["id"]), "--at", "+2m", "-f", "json")
    )
    assert (moved["state"], moved["idempotency_key"]) == ("pending", made["idempotency_key"])
    clock.advance(timedelta(minutes=2))
    run_daemon(wired, clock)
    run_daemon(wired, clock)
    [request] = webhook_receiver.requests
    assert request.headers["webhook-id"] == made["idempotency_key"]
    assert bodies(webhook_receiver)[0]["data"]["text"] == TEXT
    [sent] = as_json(at("bob", "deliveries", "list", "-f", "json"))
    assert sent["state"] == "sent"


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2026-03-01 09:00", "--at 2026-03-01T09:00:00+00:00 is in the past"),
        ("2026-03-29 01:30", "--at '2026-03-29 01:30' does not exist in Europe/London"),
    ],
)
def test_reschedule_refuses_the_past_and_a_dst_gap(
    at: Signpost, db_path: TestDatabase, when: str, expected: str
):
    post = submitted(at)
    [made] = schedule(at, post["id"], "+1h", "feed")
    before = dump(db_path)
    result = at("alice", "deliveries", "reschedule", str(made["id"]), "--at", when)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {expected}")
    assert dump(db_path) == before
