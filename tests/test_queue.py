"""Queue slots: `campaign slots` and `post queue` take the next free slot per channel."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import pytest

from posts.errors import UserError
from posts.slots import upcoming
from scheduler.clock import FrozenClock
from tests.conftest import HELPLINE, add_post, dump
from tests.shared import on_clock

NOW = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)  # Friday 12:00 GMT; BST from Sunday


@pytest.mark.parametrize(
    ("spec", "tz", "first"),
    [
        (
            "Mon-Fri 09:00,13:00; Sat 10:00",
            "Europe/London",
            [
                "2026-03-27T13:00:00+00:00",
                "2026-03-28T10:00:00+00:00",
                "2026-03-30T08:00:00+00:00",
                "2026-03-30T12:00:00+00:00",
            ],
        ),
        (
            "Sun 01:30,03:00",
            "Europe/London",  # 01:30 on 29 March does not exist: skipped
            [
                "2026-03-29T02:00:00+00:00",
                "2026-04-05T00:30:00+00:00",
                "2026-04-05T02:00:00+00:00",
                "2026-04-12T00:30:00+00:00",
            ],
        ),
        (
            "mon,wed 18:00",
            "America/New_York",
            [
                "2026-03-30T22:00:00+00:00",
                "2026-04-01T22:00:00+00:00",
                "2026-04-06T22:00:00+00:00",
                "2026-04-08T22:00:00+00:00",
            ],
        ),
    ],
)
def test_upcoming_slots(spec, tz, first):
    assert [s.isoformat() for s in itertools.islice(upcoming(spec, tz, NOW), 4)] == first


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("Fun 09:00", "'fun' is not a day"),
        ("Mon 9am", "'9am' is not a time"),
        ("Fri-Mon 09:00", "runs backwards"),
        ("Mon", "names days but no times"),
        ("", "expected e.g."),
    ],
)
def test_bad_slot_specs(spec, words):
    with pytest.raises(UserError, match=words):
        list(itertools.islice(upcoming(spec, "Europe/London", NOW), 1))


@pytest.fixture
def cli(signpost):
    """The CLI with the clock frozen at NOW, a Friday before the clocks go forward."""
    return on_clock(signpost, FrozenClock(NOW))


def test_queue_takes_the_next_free_slot_per_channel(cli, campaign, db_path):
    before = dump(db_path)
    bad = cli("carol", "campaign", "slots", campaign, "Mon-Fri 9am")
    assert bad.exit_code == 1
    assert dump(db_path) == before
    set_ = cli("carol", "campaign", "slots", campaign, "Mon-Fri 09:00,13:00", "--format", "json")
    assert json.loads(set_.stdout)["slots"] == "Mon-Fri 09:00,13:00"

    first = add_post(cli, f"First: {HELPLINE}")
    second = add_post(cli, f"Second: {HELPLINE}")
    one = json.loads(
        cli(
            "alice",
            "post",
            "queue",
            str(first["id"]),
            "--channels",
            "newsroom,feed",
            "--format",
            "json",
        ).stdout
    )["deliveries"]
    assert {d["due"] for d in one} == {"2026-03-27T13:00:00+00:00"}
    two = json.loads(
        cli(
            "alice",
            "post",
            "queue",
            str(second["id"]),
            "--channels",
            "newsroom",
            "--format",
            "json",
        ).stdout
    )["deliveries"]
    assert [d["due"] for d in two] == ["2026-03-30T08:00:00+00:00"]  # Monday 09:00 BST
    three = json.loads(
        cli(
            "alice", "post", "queue", str(second["id"]), "--channels", "feed", "--format", "json"
        ).stdout
    )["deliveries"]
    assert [d["due"] for d in three] == ["2026-03-30T08:00:00+00:00"]  # feed had one taken
    assert {d["state"] for d in one + two + three} == {"held"}


def test_queue_without_slots_says_how_to_set_them(cli, campaign):
    post = add_post(cli, f"Help: {HELPLINE}")
    result = cli("alice", "post", "queue", str(post["id"]), "--channels", "newsroom")
    assert result.exit_code == 1
    assert "has no queue slots: set them with signpost campaign slots stop-it-now" in (
        result.stderr
    )
