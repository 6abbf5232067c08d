"""Scheduling from the CLI: times in the campaign's zone, DST, holds, pauses, bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scheduler.clock import FrozenClock
from tests.conftest import HELPLINE, Signpost, add_post, dump
from tests.database import TestDatabase
from tests.shared import NOW, TEXT, approve, approved, as_json, on_clock, schedule_post


@pytest.fixture
def at(signpost: Signpost) -> Signpost:
    """The CLI with the clock frozen at NOW."""
    return on_clock(signpost, FrozenClock(NOW))


@pytest.mark.parametrize(
    ("tz", "wall", "utc"),
    [
        ("Europe/London", "2026-03-10 09:00", "2026-03-10T09:00:00+00:00"),  # GMT
        ("Europe/London", "2026-04-10 09:00", "2026-04-10T08:00:00+00:00"),  # BST
        ("America/New_York", "2026-03-10 09:00", "2026-03-10T13:00:00+00:00"),  # EDT
        ("America/New_York", "2026-03-07 09:00", "2026-03-07T14:00:00+00:00"),  # EST
        ("Europe/London", "2026-04-10T09:00+02:00", "2026-04-10T07:00:00+00:00"),  # offset wins
        ("Europe/London", "+90m", "2026-03-01T13:30:00+00:00"),
    ],
)
def test_when_is_read_in_the_campaign_zone(at: Signpost, initialised, tz, wall, utc):
    at("carol", "campaign", "add", "stop-it-now", "--name", "S", "--tz", tz)
    post = add_post(at, TEXT)
    result = schedule_post(at, post["id"], wall)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["deliveries"][0]["due"] == utc


@pytest.mark.parametrize(
    ("tz", "wall", "words", "readings"),
    [
        (
            "Europe/London",
            "2026-03-29 01:30",
            "does not exist",
            ["2026-03-29T01:30+00:00 (= 02:30 BST)", "2026-03-29T01:30+01:00 (= 00:30 GMT)"],
        ),
        (
            "Europe/London",
            "2026-10-25 01:30",
            "is ambiguous",
            ["2026-10-25T01:30+01:00 (= 01:30 BST)", "2026-10-25T01:30+00:00 (= 01:30 GMT)"],
        ),
        (
            "America/New_York",
            "2026-03-08 02:30",
            "does not exist",
            ["2026-03-08T02:30-05:00 (= 03:30 EDT)", "2026-03-08T02:30-04:00 (= 01:30 EST)"],
        ),
        (
            "America/New_York",
            "2026-11-01 01:30",
            "is ambiguous",
            ["2026-11-01T01:30-04:00 (= 01:30 EDT)", "2026-11-01T01:30-05:00 (= 01:30 EST)"],
        ),
    ],
)
def test_dst_gap_and_fold_are_refused_with_both_readings(
    at: Signpost, initialised, db_path: TestDatabase, tz, wall, words, readings
):
    at("carol", "campaign", "add", "stop-it-now", "--name", "S", "--tz", tz)
    post = add_post(at, TEXT)
    before = dump(db_path)
    result = schedule_post(at, post["id"], wall)
    assert result.exit_code == 1
    assert f"--at '{wall}' {words} in {tz}" in result.stderr
    for reading in readings:
        assert reading in result.stderr
    assert dump(db_path) == before


def test_the_suggested_reading_is_accepted(at: Signpost, campaign: str):
    post = add_post(at, TEXT)
    result = schedule_post(at, post["id"], "2026-10-25T01:30+00:00")
    assert json.loads(result.stdout)["deliveries"][0]["due"] == "2026-10-25T01:30:00+00:00"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--at", "2026-02-28 09:00"], 1, "is in the past"),
        (["--at", "tomorrow"], 1, "--at 'tomorrow': expected"),
        (["--at", "+1h", "--channels", "nowhere"], 1, "no channel named 'nowhere'"),
        (["--at", "+1h", "--channels", ","], 1, "name at least one channel"),
        (["--at", "+2h", "--expires", "+1h"], 1, "is not after --at"),
    ],
)
def test_bad_schedules_change_nothing(
    at: Signpost, campaign: str, db_path: TestDatabase, args, code, message
):
    post = add_post(at, TEXT)
    before = dump(db_path)
    if "--channels" not in args:
        args = [*args, "--channels", "newsroom"]
    result = at("alice", "post", "schedule", str(post["id"]), *args)
    assert result.exit_code == code, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert dump(db_path) == before


def test_over_long_for_the_scheduled_channel_is_refused(
    campaign: str, config_file: Path, db_path: TestDatabase
):
    from posts import deliveries, workflow
    from posts.errors import PolicyRefused
    from posts.rules import Content
    from posts.store import Store
    from scheduler.config import load

    settings = load(config_file)
    alice = workflow.Actor("alice", ("author",))
    store = Store(settings.database_url)
    text = f"{HELPLINE} " + "word " * 70  # ~360 graphemes: fine for mastodon, not bluesky
    with store.transaction() as session:
        post = workflow.add_post(
            session,
            alice,
            NOW,
            campaign=workflow.get_campaign(session, campaign),
            content=Content(text=text),
            channels=settings.channels,
        )
        post_id = post.id

    def schedule_to(channel_names: list[str], due: datetime) -> list[str]:
        """The post scheduled as alice in a transaction of its own, as both steps below are:
        the channels of the deliveries made."""
        with store.transaction() as session:
            made = deliveries.schedule(
                session,
                alice,
                NOW,
                post=workflow.get_post(session, post_id),
                dues=[due],
                expires=None,
                channel_names=channel_names,
                channels=settings.channels,
            )
            return [d.channel for d in made]

    assert schedule_to(["mastodon"], datetime(2026, 3, 2, tzinfo=UTC)) == ["mastodon"]
    before = dump(db_path)
    with pytest.raises(PolicyRefused, match=r"too long for bluesky \(bluesky\): .* limit 300"):
        schedule_to(["bluesky", "newsroom"], datetime(2026, 3, 3, tzinfo=UTC))
    assert dump(db_path) == before
    store.close()


def test_channel_type_without_adapter_cannot_be_scheduled(
    at: Signpost, campaign: str, config_file: Path, future_type: str
):
    from tests.conftest import FUTURE_CHANNEL

    with config_file.open("a", encoding="utf-8") as out:
        out.write(FUTURE_CHANNEL)
    post = add_post(at, TEXT)
    result = schedule_post(at, post["id"], "+1h", "page")
    assert result.exit_code == 1
    assert "page is a pigeon channel, which cannot publish yet" in result.stderr


def test_scheduled_before_approval_is_held_then_released(at: Signpost, campaign: str):
    post = add_post(at, TEXT)
    created = json.loads(schedule_post(at, post["id"], "+1h", "newsroom,feed").stdout)
    assert [d["state"] for d in created["deliveries"]] == ["held", "held"]
    keys = {d["idempotency_key"] for d in created["deliveries"]}
    assert len(keys) == 2
    at("alice", "post", "submit", str(post["id"]))
    at("bob", "post", "approve", str(post["id"]), "--revision", "1")
    listed = json.loads(at("bob", "deliveries", "list", "--format", "json").stdout)
    assert {d["state"] for d in listed} == {"pending"}
    assert {d["idempotency_key"] for d in listed} == keys  # fixed at creation

    # An edit after approval holds them again until approved again.
    at("alice", "post", "edit", str(post["id"]), "--text", TEXT + " Call now.")
    listed = json.loads(at("bob", "deliveries", "list", "--format", "json").stdout)
    assert {d["state"] for d in listed} == {"held"}


def test_pause_holds_and_resume_releases(at: Signpost, campaign: str):
    post_id = approved(at)
    schedule_post(at, post_id, "+1h", "newsroom,feed")
    paused = at("carol", "pause", "--channel", "newsroom", "--reason", "incident")
    assert paused.exit_code == 0, paused.stderr
    states = {
        d["channel"]: d["state"]
        for d in json.loads(at("bob", "deliveries", "list", "--format", "json").stdout)
    }
    assert states == {"newsroom": "held", "feed": "pending"}
    status = json.loads(at("bob", "status", "--format", "json").stdout)
    assert status["paused"][0]["reason"] == "incident"
    twice = at("carol", "pause", "--channel", "newsroom", "--reason", "again")
    assert twice.exit_code == 1
    assert "already paused" in twice.stderr
    assert at("carol", "resume", "--channel", "newsroom").exit_code == 0
    states = {
        d["state"] for d in json.loads(at("bob", "deliveries", "list", "--format", "json").stdout)
    }
    assert states == {"pending"}
    log = json.loads(at("bob", "audit", "log", "--format", "json").stdout)
    actions = [e["action"] for e in log]
    assert "pause" in actions and "resume" in actions


def test_pause_needs_a_reason_and_a_known_scope(at: Signpost, campaign: str, db_path: TestDatabase):
    before = dump(db_path)
    assert at("carol", "pause", "--reason", " ").exit_code == 1
    unknown = at("carol", "pause", "--campaign", "nope", "--reason", "x")
    assert unknown.exit_code == 1
    assert "no campaign 'nope'" in unknown.stderr
    both = at(
        "carol", "pause", "--campaign", "stop-it-now", "--channel", "newsroom", "--reason", "x"
    )
    assert both.exit_code == 1
    assert at("carol", "resume").exit_code == 1
    assert dump(db_path) == before


def test_cancel_post_cancels_its_deliveries(at: Signpost, campaign: str):
    post_id = approved(at)
    schedule_post(at, post_id, "+1h", "newsroom,feed")
    at("alice", "post", "cancel", str(post_id))
    states = {
        d["state"] for d in json.loads(at("bob", "deliveries", "list", "--format", "json").stdout)
    }
    assert states == {"cancelled"}


def test_calendar_shows_deliveries_in_order(at: Signpost, campaign: str):
    post_id = approved(at)
    schedule_post(at, post_id, "2026-03-05 09:00", "newsroom")
    schedule_post(at, post_id, "2026-03-03 09:00", "feed")
    schedule_post(at, post_id, "2026-05-03 09:00", "feed", "--again")
    rows = as_json(
        at(
            "bob",
            "calendar",
            "--from",
            "2026-03-02 00:00",
            "--to",
            "2026-03-10 00:00",
            "--format",
            "json",
        )
    )
    assert [(r["channel"], r["due_local"]) for r in rows] == [
        ("feed", "2026-03-03 09:00 GMT"),
        ("newsroom", "2026-03-05 09:00 GMT"),
    ]
    table = at("bob", "calendar", "--from", "2026-05-01 00:00")
    assert "2026-05-03 09:00 BST" in table.stdout  # wall time in, wall time out


def test_pausing_one_campaign_leaves_the_other_alone(at: Signpost, campaign: str):
    at("carol", "campaign", "add", "aaa-other", "--name", "Other")
    ours = approved(at)
    theirs = at(
        "alice", "post", "add", "--campaign", "aaa-other", "--text", TEXT, "--format", "json"
    )
    theirs_id = json.loads(theirs.stdout)["id"]
    approve(at, theirs_id)
    schedule_post(at, ours, "+1h")
    schedule_post(at, theirs_id, "+1h")
    for paused, held_post in (("aaa-other", theirs_id), ("stop-it-now", ours)):
        at("carol", "pause", "--campaign", paused, "--reason", "check")
        states = {
            d["post"]: d["state"]
            for d in json.loads(at("bob", "deliveries", "list", "--format", "json").stdout)
        }
        assert states[held_post] == "held"
        assert [s for p, s in states.items() if p != held_post] == ["pending"]
        at("carol", "resume", "--campaign", paused)
