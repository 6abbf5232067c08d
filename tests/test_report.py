"""`signpost report`: what went out where, with tagged links and totals."""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import UTC, datetime, timedelta

from posts.store import Store
from scheduler.clock import FrozenClock
from scheduler.config import DaemonSettings, load
from scheduler.delivery import Engine
from tests.conftest import HELPLINE, add_post
from tests.shared import Recorder, approve, on_clock

NOW = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)  # Friday; clocks go forward on Sunday


def test_report_lists_sent_posts_with_urls_tagged_links_and_totals(signpost, campaign, config_file):
    clock = FrozenClock(NOW)
    cli = on_clock(signpost, clock)
    ids = []
    for n in range(3):
        post = add_post(cli, f"Post {n}: {HELPLINE}", "--link", "https://www.stopitnow.org.uk/")
        approve(cli, post["id"])
        ids.append(post["id"])
    cli("alice", "post", "schedule", str(ids[0]), "--at", "+1h", "--channels", "newsroom,feed")
    cli("alice", "post", "schedule", str(ids[1]), "--at", "+4d", "--channels", "newsroom")
    cli("alice", "post", "schedule", str(ids[2]), "--at", "+10d", "--channels", "newsroom")
    store = Store(load(config_file).database_url)
    channels = {"newsroom": Recorder("webhook"), "feed": Recorder("feed")}
    engine = Engine(
        store=store,
        settings=DaemonSettings(grace=timedelta(hours=2)),
        clock=clock,
        channels=channels,
        owner="d",
        rng=random.Random(1),
    )
    for hours in (1, 4 * 24 - 1):
        clock.advance(timedelta(hours=hours))
        engine.tick()
    store.close()

    result = cli("bob", "report", "--campaign", campaign, "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [(r["post"], r["channel"]) for r in data["deliveries"]] == [
        (ids[0], "newsroom"),
        (ids[0], "feed"),
        (ids[1], "newsroom"),
    ]  # the third not yet sent
    first = data["deliveries"][0]
    assert first["sent"] == "2026-03-27T13:00:00+00:00"  # GMT
    assert data["deliveries"][2]["sent"] == "2026-03-31T13:00:00+01:00"  # BST
    assert first["link"] == (
        "https://www.stopitnow.org.uk/?utm_source=webhook"
        "&utm_medium=social&utm_campaign=stop-it-now"
    )
    assert data["totals"] == {
        "sent": 3,
        "by_channel": {"feed": 1, "newsroom": 2},
        "by_week": {"2026-W13": 2, "2026-W14": 1},
    }

    window = json.loads(
        cli(
            "bob",
            "report",
            "--campaign",
            campaign,
            "--from",
            "2026-03-30 00:00",
            "--format",
            "json",
        ).stdout
    )
    assert window["totals"]["sent"] == 1

    table = cli("bob", "report", "--campaign", campaign, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    assert [r["channel"] for r in rows] == ["newsroom", "feed", "newsroom"]
    assert rows[1]["link"].endswith("utm_source=feed&utm_medium=social&utm_campaign=stop-it-now")

    human = cli("bob", "report", "--campaign", campaign)
    assert "week 2026-W13" in human.stdout


def test_report_of_an_unknown_campaign(signpost, campaign):
    result = signpost("bob", "report", "--campaign", "nope")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no campaign 'nope'")
