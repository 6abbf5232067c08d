"""Recurring posts: `post schedule --rrule`, expanded in the campaign's zone across DST."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from scheduler.clock import FrozenClock
from tests.conftest import HELPLINE, Signpost, add_post, dump
from tests.shared import on_clock, schedule_post

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def at(signpost: Signpost) -> Signpost:
    """The CLI with the clock frozen at NOW, before every date the tests schedule."""
    return on_clock(signpost, FrozenClock(NOW))


def series(at, tz: str, start: str, rule: str, channels: str = "newsroom"):
    at("carol", "campaign", "add", "stop-it-now", "--name", "S", "--tz", tz)
    post = add_post(at, f"Help: {HELPLINE}")
    return schedule_post(at, post["id"], start, channels, "--rrule", rule)


@pytest.mark.parametrize(
    ("tz", "start", "utc"),
    [
        # 09:00 every Monday in London: GMT, then BST after 29 March, 09:00 local throughout
        (
            "Europe/London",
            "2026-03-16 09:00",
            [
                "2026-03-16T09:00:00+00:00",
                "2026-03-23T09:00:00+00:00",
                "2026-03-30T08:00:00+00:00",
                "2026-04-06T08:00:00+00:00",
            ],
        ),
        # and back to GMT after 25 October
        (
            "Europe/London",
            "2026-10-12 09:00",
            [
                "2026-10-12T08:00:00+00:00",
                "2026-10-19T08:00:00+00:00",
                "2026-10-26T09:00:00+00:00",
                "2026-11-02T09:00:00+00:00",
            ],
        ),
        # New York changes on 8 March and 1 November
        (
            "America/New_York",
            "2026-03-02 09:00",
            [
                "2026-03-02T14:00:00+00:00",
                "2026-03-09T13:00:00+00:00",
                "2026-03-16T13:00:00+00:00",
                "2026-03-23T13:00:00+00:00",
            ],
        ),
        (
            "America/New_York",
            "2026-10-26 09:00",
            [
                "2026-10-26T13:00:00+00:00",
                "2026-11-02T14:00:00+00:00",
                "2026-11-09T14:00:00+00:00",
                "2026-11-16T14:00:00+00:00",
            ],
        ),
    ],
)
def test_weekly_stays_at_the_same_wall_clock_time(at, initialised, tz, start, utc):
    result = series(at, tz, start, "FREQ=WEEKLY;BYDAY=MO;COUNT=4")
    assert result.exit_code == 0, result.stderr
    made = json.loads(result.stdout)["deliveries"]
    assert [d["due"] for d in made] == utc
    assert len({d["idempotency_key"] for d in made}) == 4  # each its own delivery and key
    assert {d["due_local"][11:16] for d in made} == {"09:00"}
    assert "scheduled to 1 channel(s) 4 times from" in result.stderr


def test_every_occurrence_for_every_channel(at, initialised):
    result = series(at, "Europe/London", "2026-02-02 09:00", "FREQ=DAILY;COUNT=3", "newsroom,feed")
    made = json.loads(result.stdout)["deliveries"]
    assert len(made) == 6
    assert {d["channel"] for d in made} == {"newsroom", "feed"}


@pytest.mark.parametrize(
    ("rule", "start", "message"),
    [
        ("FREQ=WEEKLY;BYDAY=MO", "2026-02-02 09:00", "give COUNT=n or UNTIL=date"),
        ("FREQ=SOMETIMES;COUNT=2", "2026-02-02 09:00", "--rrule 'FREQ=SOMETIMES;COUNT=2':"),
        ("FREQ=MINUTELY;COUNT=501", "2026-02-02 09:00", "more than 500 occurrences"),
        # a daily 01:30 runs into the London spring gap on 29 March
        ("FREQ=DAILY;COUNT=3", "2026-03-28 01:30", "'2026-03-29T01:30' does not exist"),
    ],
)
def test_bad_rules_change_nothing(at, initialised, db_path, rule, start, message):
    at("carol", "campaign", "add", "stop-it-now", "--name", "S")
    post = add_post(at, f"Help: {HELPLINE}")
    before = dump(db_path)
    result = schedule_post(at, post["id"], start, "newsroom", "--rrule", rule)
    assert result.exit_code == 1
    assert message in result.stderr
    assert dump(db_path) == before


def test_expires_does_not_go_with_a_series(at, initialised):
    at("carol", "campaign", "add", "stop-it-now", "--name", "S")
    post = add_post(at, f"Help: {HELPLINE}")
    result = schedule_post(
        at,
        post["id"],
        "2026-02-02 09:00",
        "newsroom",
        "--rrule",
        "FREQ=DAILY;COUNT=2",
        "--expires",
        "2026-02-02 10:00",
    )
    assert result.exit_code == 1
    assert "--expires goes with one time" in result.stderr
