"""Issues 4 and 13: eleven channels configured and checked, approved posts out to all once.

Matrix and Bluesky are real servers (Synapse, an atproto PDS); Mastodon, Telegram, Discord,
Slack, X, Facebook, LinkedIn, Threads and Instagram are contract fakes following
../shared/channels.md. One post (text and link) goes to the ten that take text; Instagram,
which takes only images, gets a second post with a JPEG, fetched by the fake from the
``[media]`` folder served on loopback. Everything runs through the CLI and the real engine;
the clock is frozen at the current time and advanced, never slept.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import select
from typer.testing import CliRunner

from posts.models import Delivery
from scheduler.cli import app
from scheduler.clock import FrozenClock
from scheduler.configfile import ConfigFile
from scheduler.delivery import Engine
from scheduler.workspace import Workspace, make_engine
from tests.conftest import ADD_CAMPAIGN, dump
from tests.database import TestDatabase
from tests.fakes.discord import FakeDiscord
from tests.fakes.facebook import FakeFacebook
from tests.fakes.instagram import FakeInstagram
from tests.fakes.linkedin import FakeLinkedIn
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.slack import FakeSlack
from tests.fakes.telegram import FakeTelegram
from tests.fakes.threads import FakeThreads
from tests.fakes.x import FakeX
from tests.peers import BlueskyPds, Synapse
from tests.shared import token_file
from tests.test_channel_threads import public  # noqa: F401  (fixture: the [media] folder)
from tests.test_fake_instagram import JPEG

TEXT = "Worried about what you look at online? Confidential help: Stop It Now, 0808 1000 900."
LINK = "https://www.stopitnow.org.uk/"
runner = CliRunner()


@pytest.fixture
def eleven(
    tmp_path: Path,
    database: TestDatabase,
    synapse: Synapse,
    bluesky_pds: BlueskyPds,
    monkeypatch: pytest.MonkeyPatch,
    public: tuple[Path, str],  # noqa: F811
):
    """A workspace whose config names all eleven channels, each reachable on loopback."""
    matrix_user = synapse.register(f"force{tmp_path.name[-12:].replace('_', '')}", "pw")
    room = synapse.create_room(matrix_user["access_token"], "Stop It Now")
    handle = f"wyp{abs(hash(tmp_path)) % 10**8}.test"
    bluesky_pds.create_account(handle, "bsky-app-password")
    with (
        FakeMastodon() as mastodon,
        FakeTelegram() as telegram,
        FakeDiscord() as discord,
        FakeSlack() as slack,
        FakeX() as x,
        FakeFacebook() as facebook,
        FakeLinkedIn() as linkedin,
        FakeThreads() as threads,
        FakeInstagram() as instagram,
    ):
        linkedin_tokens = token_file(tmp_path / "linkedin.tokens.json", linkedin.grant())
        secrets = {
            "SIGNPOST_MASTODON_TOKEN": mastodon.token,
            "SIGNPOST_BLUESKY_PASSWORD": "bsky-app-password",
            "SIGNPOST_MATRIX_TOKEN": matrix_user["access_token"],
            "SIGNPOST_TELEGRAM_TOKEN": telegram.token,
            "SIGNPOST_DISCORD_WEBHOOK": discord.webhook_url,
            "SIGNPOST_SLACK_TOKEN": slack.token,
            "SIGNPOST_X_TOKEN": x.grant()["access_token"],
            "SIGNPOST_FACEBOOK_TOKEN": facebook.token,
            "SIGNPOST_LINKEDIN_SECRET": linkedin.client_secret,
            "SIGNPOST_THREADS_TOKEN": threads.token,
            "SIGNPOST_INSTAGRAM_TOKEN": instagram.token,
        }
        for name, value in secrets.items():
            monkeypatch.setenv(name, value)
        config = (
            ConfigFile(database.url)
            .with_channel(
                "mastodon", "mastodon", url=mastodon.url, token_env="SIGNPOST_MASTODON_TOKEN"
            )
            .with_channel(
                "bluesky",
                "bluesky",
                url=bluesky_pds.url,
                handle=handle,
                token_env="SIGNPOST_BLUESKY_PASSWORD",
            )
            .with_channel(
                "matrix", "matrix", url=synapse.url, room=room, token_env="SIGNPOST_MATRIX_TOKEN"
            )
            .with_channel(
                "telegram",
                "telegram",
                url=telegram.url,
                chat="@stopitnow",
                token_env="SIGNPOST_TELEGRAM_TOKEN",
            )
            .with_channel("discord", "discord", token_env="SIGNPOST_DISCORD_WEBHOOK")
            .with_channel(
                "slack",
                "slack",
                url=slack.api_url,
                channel="C0123456789",
                token_env="SIGNPOST_SLACK_TOKEN",
            )
            .with_channel("x", "x", url=x.url, username=x.username, token_env="SIGNPOST_X_TOKEN")
            .with_channel(
                "facebook",
                "facebook",
                url=facebook.url,
                page_id=facebook.page_id,
                token_env="SIGNPOST_FACEBOOK_TOKEN",
            )
            .with_channel(
                "linkedin",
                "linkedin",
                url=linkedin.url,
                author=linkedin.author,
                version=linkedin.version,
                token_file=str(linkedin_tokens),
                client_id=linkedin.client_id,
                client_secret_env="SIGNPOST_LINKEDIN_SECRET",
            )
            .with_channel(
                "threads",
                "threads",
                url=threads.url,
                user_id=threads.user_id,
                token_env="SIGNPOST_THREADS_TOKEN",
            )
            .with_channel(
                "instagram",
                "instagram",
                url=instagram.url,
                ig_user_id=instagram.ig_user_id,
                token_env="SIGNPOST_INSTAGRAM_TOKEN",
            )
            .with_table("media", public_dir=str(public[0]), public_url=public[1])
            .write(tmp_path / "config.toml")
        )
        yield (
            config,
            {
                "mastodon": mastodon,
                "telegram": telegram,
                "discord": discord,
                "slack": slack,
                "x": x,
                "facebook": facebook,
                "linkedin": linkedin,
                "threads": threads,
                "instagram": instagram,
            },
            (synapse, matrix_user, room),
        )


def cli(config: Path, actor: str, *args: str, clock: FrozenClock | None = None):
    return runner.invoke(
        app,
        ["--config", str(config), *args],
        env={"SIGNPOST_ACTOR": actor},
        obj={"clock": clock} if clock else None,
    )


TEXT_CHANNELS = [
    "mastodon",
    "bluesky",
    "matrix",
    "telegram",
    "discord",
    "slack",
    "x",
    "facebook",
    "linkedin",
    "threads",
]


def test_approved_posts_go_out_to_all_eleven_once(eleven, tmp_path: Path, database: TestDatabase):
    config, fakes, (synapse, matrix_user, room) = eleven
    check = cli(config, "alice", "channels", "check", "--format", "json")
    assert check.exit_code == 0, check.stdout
    assert {r["name"]: r["ok"] for r in json.loads(check.stdout)} == dict.fromkeys(
        [*TEXT_CHANNELS, "instagram"], True
    )

    clock = FrozenClock(datetime.now(UTC))
    card = tmp_path / "helpline.jpg"
    card.write_bytes(JPEG)
    assert cli(config, "alice", "init").exit_code == 0
    cli(config, "alice", *ADD_CAMPAIGN)
    add = ("post", "add", "--campaign", "stop-it-now", "--text", TEXT)
    cli(config, "alice", *add, "--link", LINK, "--channels", ",".join(TEXT_CHANNELS))
    picture = ("--image", str(card), "--alt", "The Stop It Now helpline number on a card")
    cli(config, "alice", *add, *picture, "--channels", "instagram")
    for post in ("1", "2"):
        submitted = cli(config, "alice", "post", "submit", post)
        assert submitted.exit_code == 0, submitted.stderr
        approved = cli(config, "bob", "post", "approve", post, "--revision", "1")
        assert approved.exit_code == 0, approved.stderr
    for post, channels in (("1", ",".join(TEXT_CHANNELS)), ("2", "instagram")):
        scheduled = cli(
            config,
            "alice",
            "post",
            "schedule",
            post,
            "--at",
            "+1m",
            "--channels",
            channels,
            clock=clock,
        )
        assert scheduled.exit_code == 0, scheduled.stderr

    clock.advance(timedelta(minutes=1))
    ws = Workspace.open(config, clock)
    with httpx.Client(timeout=10) as client:
        engine = make_engine(ws, client, "daemon:test")
        engine.channels["instagram"].sleep = lambda seconds: None
        assert engine.tick().sent == 11
        assert engine.tick().sent == 0  # nothing twice
    ws.store.close()

    assert len(fakes["mastodon"].statuses) == 1
    assert len(fakes["telegram"].messages) == 1
    assert len(fakes["discord"].messages) == 1
    assert len(fakes["slack"].messages) == 1
    assert len(fakes["x"].tweets) == 1
    assert len(fakes["facebook"].posts) == 1
    assert len(fakes["linkedin"].posts) == 1
    assert len(fakes["threads"].posts) == 1
    (gram,) = fakes["instagram"].posts
    assert gram["alt_text"] == "The Stop It Now helpline number on a card"
    matrix_texts = [
        e
        for e in synapse.messages(matrix_user["access_token"], room)
        if e["type"] == "m.room.message"
    ]
    assert len(matrix_texts) == 1

    exported = cli(config, "bob", "audit", "export", "--format", "jsonl").stdout
    sent = [json.loads(line) for line in exported.splitlines()]
    urls = {
        e["details"]["channel"]: e["details"]["remote_url"]
        for e in sent
        if e["action"] == "delivery.sent"
    }
    assert set(urls) == {*TEXT_CHANNELS, "instagram"}
    assert urls["bluesky"].startswith("https://bsky.app/profile/")
    assert urls["matrix"].startswith("https://matrix.to/#/")
    assert urls["telegram"].startswith("https://t.me/stopitnow/")
    assert urls["discord"].startswith("https://discord.com/channels/")
    assert urls["x"].startswith("https://x.com/stopitnow/status/")
    assert urls["facebook"].startswith("https://www.facebook.com/")
    assert urls["linkedin"].startswith("https://www.linkedin.com/feed/update/urn:li:share:")
    assert urls["threads"].startswith("https://www.threads.net/@stopitnow/post/")
    assert urls["instagram"].startswith("https://www.instagram.com/p/")
    assert all(urls.values())
    for post in ("1", "2"):
        shown = cli(config, "bob", "post", "show", post, "--format", "json").stdout
        assert shown.count('"state": "published"') == 1
    assert cli(config, "bob", "audit", "verify").exit_code == 0
    stored = "\n".join(dump(database))
    tokens = [fakes[n].token for n in ("facebook", "threads", "instagram")]
    tokens += [fakes["x"].access_token, fakes["linkedin"].access_token]
    tokens += [fakes["linkedin"].refresh_token, fakes["linkedin"].client_secret]
    for token in tokens:
        assert token not in exported  # not in the audit log
        assert token not in stored  # nor anywhere in the database


@pytest.mark.parametrize("late", [timedelta(seconds=61), timedelta(minutes=70)])
def test_a_crash_mid_send_never_duplicates_on_mastodon_or_matrix(eleven, late):
    """The daemon claims, sends, and dies before recording; a new one finds the lease."""
    config, fakes, (synapse, matrix_user, room) = eleven
    clock = FrozenClock(datetime.now(UTC))
    for actor, *args in (
        ("alice", "init"),
        ("alice", "campaign", "add", "stop-it-now", "--name", "Stop It Now"),
        ("alice", "post", "add", "--campaign", "stop-it-now", "--text", TEXT),
        ("alice", "post", "submit", "1"),
        ("bob", "post", "approve", "1", "--revision", "1"),
        ("alice", "post", "schedule", "1", "--at", "+1m", "--channels", "mastodon,matrix"),
    ):
        assert cli(config, actor, *args, clock=clock).exit_code == 0
    clock.advance(timedelta(minutes=1))
    ws = Workspace.open(config, clock)
    with httpx.Client(timeout=10) as client:
        dying = make_engine(ws, client, "daemon:dies")
        for claim in dying.claim_due(10):
            dying.publish(claim)  # out on the network; the daemon is killed before recording
        clock.advance(late)  # the lease has expired; Mastodon's key may have expired too
        settings = ws.settings.daemon
        if late > timedelta(minutes=15):  # keep the redo within the grace it would have
            settings = type(settings)(**{**settings.__dict__, "grace": timedelta(hours=2)})
        fresh = Engine(
            store=ws.store,
            settings=settings,
            clock=clock,
            channels=dying.channels,
            owner="daemon:restarted",
        )
        report = fresh.tick()
    assert report.reconciled == 2
    assert report.sent == 2
    assert len(fakes["mastodon"].statuses) == 1
    matrix_texts = [
        e
        for e in synapse.messages(matrix_user["access_token"], room)
        if e["type"] == "m.room.message"
    ]
    assert len(matrix_texts) == 1
    with ws.store.read() as session:
        states = {d.channel: d.state for d in session.exec(select(Delivery))}
    assert states == {"mastodon": "sent", "matrix": "sent"}
    ws.store.close()
