"""Notifications to the team: queued with the event, sent by the engine exactly once."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from scheduler.clock import FrozenClock
from scheduler.config import DaemonSettings
from scheduler.delivery import Engine
from scheduler.workspace import Workspace, open_channels
from tests.conftest import HELPLINE, add_post, team_config
from tests.database import TestDatabase
from tests.peers import WebhookReceiver
from tests.shared import NOW, approve, on_clock, schedule_post

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def team(
    tmp_path: Path,
    database: TestDatabase,
    webhook_receiver: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
):
    """A workspace whose posts and notifications both go to a loopback receiver."""
    monkeypatch.setenv("SIGNPOST_TEST_WEBHOOK_SECRET", SECRET)
    hook = f"{webhook_receiver.url}/newsroom"
    team = f"{webhook_receiver.url}/team"
    built = (
        team_config(database.url)
        .with_channel("newsroom", "webhook", url=hook, token_env="SIGNPOST_TEST_WEBHOOK_SECRET")
        .with_channel("team", "webhook", url=team, token_env="SIGNPOST_TEST_WEBHOOK_SECRET")
        .with_table("notify", channel="team")
    )
    return built.write(tmp_path / "config.toml")


@pytest.fixture
def team_with_page(team: Path, tmp_path: Path) -> Path:
    """The same workspace with a review page at ``[web] base_url``."""
    text = team.read_text(encoding="utf-8")
    path = tmp_path / "with-page.toml"
    path.write_text(f'{text}\n[web]\nbase_url = "https://signpost.example.org/"\n', "utf-8")
    return path


def team_cli(signpost, config: Path, clock: FrozenClock):
    """The CLI on the team's config and the test's clock, for a whole story.

    A step may be refused by policy (exit 3) without ending the story, never fail otherwise.
    """
    run = on_clock(signpost, clock)

    def step(actor, *args):
        result = run(actor, *args, config=config)
        assert result.exit_code in (0, 3), result.stderr
        return result

    return step


def engine_for(config: Path, clock: FrozenClock, client: httpx.Client) -> tuple[Engine, Workspace]:
    ws = Workspace.open(config, clock)
    engine = Engine(
        store=ws.store,
        settings=DaemonSettings(max_attempts=1),
        clock=clock,
        channels=open_channels(ws.settings, clock, client),
        owner="daemon:test",
        rng=random.Random(1),
        notify=ws.settings.notify,
    )
    return engine, ws


def sent_to(receiver: WebhookReceiver, path: str) -> list[dict]:
    return [json.loads(r.body)["data"] for r in receiver.requests if r.path == path]


def test_approval_requested_and_failed_delivery_reach_the_team_once(
    signpost, team, webhook_receiver
):
    clock = FrozenClock(NOW)
    cli = team_cli(signpost, team, clock)
    cli("carol", "init")
    cli("carol", "campaign", "add", "stop-it-now", "--name", "S")
    post = add_post(cli, f"Help: {HELPLINE}")
    approve(cli, post["id"])
    schedule_post(cli, post["id"], "+1m")

    with httpx.Client() as client:
        engine, ws = engine_for(team, clock, client)
        assert engine.tick().sent == 1  # the approval request, due at once
        [asked] = sent_to(webhook_receiver, "/team")
        assert asked["text"].startswith(f"Post {post['id']} (stop-it-now) by alice awaits")
        assert asked["post"] is None

        clock.advance(timedelta(minutes=1))
        webhook_receiver.respond(410)  # the newsroom endpoint is gone: a permanent failure
        report = engine.tick()
        assert report.failed == 1
        engine.tick()
        engine.tick()
        ws.store.close()
    texts = [d["text"] for d in sent_to(webhook_receiver, "/team")]
    assert len(texts) == 2  # each notification exactly once
    assert "failed" in texts[1] and "deliveries retry" in texts[1]
    listed = json.loads(cli("bob", "deliveries", "list", "--format", "json").stdout)
    notices = [d for d in listed if d["notice"]]
    assert {d["state"] for d in notices} == {"sent"}
    log = json.loads(cli("bob", "audit", "log", "--limit", "100", "--format", "json").stdout)
    assert [e["action"] for e in log].count("notice.queue") == 2


def test_missed_and_paused(signpost, team, webhook_receiver):
    clock = FrozenClock(NOW)
    cli = team_cli(signpost, team, clock)
    for actor, *args in (
        ("carol", "init"),
        ("carol", "campaign", "add", "stop-it-now", "--name", "S"),
        ("alice", "post", "add", "--campaign", "stop-it-now", "--text", f"Help {HELPLINE}"),
        ("alice", "post", "schedule", "1", "--at", "+1m", "--channels", "newsroom"),
        ("carol", "pause", "--reason", "all comms on hold"),
    ):
        cli(actor, *args)
    clock.advance(timedelta(minutes=20))  # never approved: missed after the grace period
    with httpx.Client() as client:
        engine, ws = engine_for(team, clock, client)
        assert engine.tick().missed == 1
        engine.tick()  # notifications are not held by a pause of public posting
        ws.store.close()
    texts = [d["text"] for d in sent_to(webhook_receiver, "/team")]
    assert any("was missed" in t for t in texts)
    assert sent_to(webhook_receiver, "/newsroom") == []


def test_a_failing_notification_does_not_notify(signpost, team, webhook_receiver):
    clock = FrozenClock(NOW)
    cli = team_cli(signpost, team, clock)
    cli("carol", "init")
    cli("carol", "campaign", "add", "stop-it-now", "--name", "S")
    add_post(cli, f"Help {HELPLINE}")
    cli("alice", "post", "submit", "1")
    with httpx.Client() as client:
        engine, ws = engine_for(team, clock, client)
        webhook_receiver.respond(410)
        assert engine.tick().failed == 1
        for _ in range(3):
            engine.tick()
        ws.store.close()
    assert len(webhook_receiver.requests) == 1  # no notification about the notification


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('[notify]\nchannel = "nowhere"\n', "[notify] channel: expected one of the configured"),
        ('[notify]\nchannel = "newsroom"\nevents = ["lunch"]\n', "[notify] events: expected"),
    ],
)
def test_bad_notify_config(signpost, config_file, section, message):
    config_file.write_text(config_file.read_text() + section)
    result = signpost("carol", "status")
    assert result.exit_code == 1
    assert message in result.stderr


def test_approval_request_links_to_the_post_page_when_there_is_one(
    signpost, team_with_page, webhook_receiver
):
    clock = FrozenClock(NOW)
    cli = team_cli(signpost, team_with_page, clock)
    cli("carol", "init")
    cli("carol", "campaign", "add", "stop-it-now", "--name", "S")
    post = add_post(cli, f"Help: {HELPLINE}")
    cli("alice", "post", "submit", str(post["id"]))

    with httpx.Client() as client:
        engine, ws = engine_for(team_with_page, clock, client)
        engine.tick()
        ws.store.close()
    [asked] = sent_to(webhook_receiver, "/team")
    assert asked["text"].endswith(
        f"See what goes out: https://signpost.example.org/posts/{post['id']}"
    )
    assert "signpost post approve" not in asked["text"]
