"""The X adapter against the X contract fake over loopback HTTP (channels.md §7, §15).

Beyond the shared contract (test_channel_contract.py): tokens from a token_file refreshed
before expiry and on a 401, rotating, once across two senders; images with alt text; the
duplicate refusal settled by the timeline, never posted twice; lookups paging back to the
claim; ``channels check``; ``channels connect`` end to end; no token in any log line.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from channels.base import Media, Message, OutcomeUnknown, PermanentError
from channels.registry import build
from scheduler.clock import FrozenClock
from tests.conftest import team_config
from tests.fakes.x import FakeX
from tests.peers import free_port
from tests.shared import token_file

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TEXT = "Worried about what you look at online? Confidential help: 0808 1000 900"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def fake(clock: FrozenClock) -> Iterator[FakeX]:
    with FakeX(clock=clock) as running:
        yield running


@pytest.fixture
def tokens(fake: FakeX, tmp_path: Path) -> Path:
    """A token file as ``channels connect`` leaves it."""
    return token_file(tmp_path / "x.tokens.json", fake.grant())


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def x_channel(fake: FakeX, tokens: Path, http: httpx.Client, clock: FrozenClock, **extra):
    options = {
        "url": fake.url,
        "username": fake.username,
        "token_file": str(tokens),
        "client_id": fake.client_id,
        "client_secret_env": "SIGNPOST_TEST_X_SECRET",
        **extra,
    }
    return build("x", "x", options, client=http, now=clock.now)


@pytest.fixture
def channel(fake, tokens, http, clock, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SIGNPOST_TEST_X_SECRET", fake.client_secret)
    return x_channel(fake, tokens, http, clock)


def message(text: str = TEXT, **extra) -> Message:
    return Message(text=text, idempotency_key="sp-x-1", **extra)


def test_a_refused_token_is_refreshed_once_rotated_and_the_post_goes_out(
    channel, fake: FakeX, tokens: Path
) -> None:
    before = json.loads(tokens.read_text())
    fake.expire_access_token()

    receipt = channel.publish(message())

    assert [t["text"] for t in fake.tweets] == [TEXT]
    assert receipt.remote_url == fake.tweet_url(receipt.remote_id)
    assert (fake.refreshes, fake.reused_refresh_tokens) == (1, 0)
    after = json.loads(tokens.read_text())
    assert after["refresh_token"] != before["refresh_token"]  # X rotated it; we kept the new
    assert after["access_token"] == fake.access_token
    assert tokens.stat().st_mode & 0o777 == 0o600
    assert fake.client_auth == ["basic"]  # a confidential client authenticates


def test_a_token_about_to_expire_is_refreshed_before_it_is_used(
    channel, fake: FakeX, clock: FrozenClock
) -> None:
    clock.advance(timedelta(hours=1, minutes=56))  # four minutes of its two hours left

    channel.publish(message())

    assert fake.refreshes == 1
    # refreshed first: the old token was never sent to be refused
    assert [r.path for r in fake.requests] == ["/2/oauth2/token", "/2/tweets"]


def test_two_senders_refreshing_at_once_spend_the_refresh_token_once(
    fake: FakeX, tokens: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGNPOST_TEST_X_SECRET", fake.client_secret)
    fake.expire_access_token()
    errors: list[Exception] = []

    def send(text: str) -> None:
        with httpx.Client(timeout=10) as client:  # as two daemons: each its own adapter
            try:
                x_channel(fake, tokens, client, clock).publish(message(text))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    senders = [threading.Thread(target=send, args=(f"{TEXT} ({n})",)) for n in (1, 2)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(30)

    assert errors == []
    assert len(fake.tweets) == 2
    assert fake.reused_refresh_tokens == 0
    assert fake.refreshes == 1  # the second sender found the first one's new token


def test_images_are_uploaded_first_with_their_alt_text(
    channel, fake: FakeX, tmp_path: Path
) -> None:
    image = tmp_path / "helpline.png"
    image.write_bytes(PNG)
    media = Media(str(image), hashlib.sha256(PNG).hexdigest(), "The helpline number on a card")
    sent = message(media=(media,))

    prepared = channel.prepare(sent)
    receipt = channel.publish(Message(**{**sent.__dict__, "prepared": prepared}))

    (tweet,) = fake.tweets
    assert tweet["id"] == receipt.remote_id
    assert tweet["media_ids"] == prepared.split(",")
    assert tweet["alt_texts"] == ["The helpline number on a card"]


def test_a_lost_answer_then_the_duplicate_refusal_is_settled_as_sent_once(
    channel, fake: FakeX
) -> None:
    fake.drop_next(processed=True)
    with pytest.raises(OutcomeUnknown):
        channel.publish(message())
    claimed = message(not_before=NOW - timedelta(minutes=1))

    receipt = channel.publish(claimed)  # a person retried: X says "duplicate content"

    assert len(fake.tweets) == 1
    assert receipt.remote_id == fake.tweets[0]["id"]
    assert channel.lookup(claimed) == receipt


def test_a_duplicate_of_an_older_post_is_refused_not_taken_for_ours(
    channel, fake: FakeX, clock: FrozenClock
) -> None:
    channel.publish(message())  # last week's post
    clock.advance(timedelta(days=7))

    with pytest.raises(PermanentError, match="duplicate of an older post"):
        channel.publish(message(not_before=clock.now() - timedelta(minutes=1)))
    assert len(fake.tweets) == 1


def test_a_lookup_pages_back_to_the_claim_before_saying_not_there(
    channel, fake: FakeX, clock: FrozenClock
) -> None:
    claim = clock.now()
    ours = channel.publish(message())
    for n in range(120):  # another tool posts a burst after ours
        channel.publish(message(f"Another post {n}"))
    assert channel.lookup(message(not_before=claim)) == ours

    clock.advance(timedelta(hours=1))
    assert channel.lookup(message("Never sent", not_before=claim)) is None
    pages = [r for r in fake.requests if r.path.endswith("/tweets") and r.method == "GET"]
    assert any("pagination_token" in r.query for r in pages)


def test_check_names_the_account_and_when_the_token_expires(channel, fake: FakeX) -> None:
    said = channel.check()

    assert said.startswith("signed in as @stopitnow")
    assert "access token valid until 2026-03-01 14:00 UTC; refreshed automatically" in said
    assert fake.tweets == []


def test_no_token_reaches_a_log_line_or_an_error(
    channel, fake: FakeX, tokens: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secrets = set(json.loads(tokens.read_text()).values()) - {None}
    fake.expire_access_token()
    with caplog.at_level("DEBUG"):
        channel.publish(message())
        fake.reject_token()
        with pytest.raises(PermanentError) as refused:
            channel.publish(message("Second post"))
    secrets |= {fake.client_secret, *json.loads(tokens.read_text()).values()}
    logged = caplog.text + str(refused.value)
    assert [s for s in secrets if isinstance(s, str) and len(s) > 8 and s in logged] == []


def test_channels_connect_authorizes_with_pkce_and_writes_the_token_file(
    fake: FakeX, tmp_path: Path
) -> None:
    path = tmp_path / "x.tokens.json"
    config = (
        team_config("sqlite:///" + str(tmp_path / "db.sqlite"))
        .with_channel(
            "x-police",
            "x",
            url=fake.url,
            username=fake.username,
            token_file=str(path),
            client_id=fake.client_id,
            client_secret_env="SIGNPOST_TEST_X_SECRET",
        )
        .write(tmp_path / "config.toml")
    )
    port = free_port()
    command = [str(Path(sys.executable).with_name("signpost")), "--config", str(config)]
    proc = subprocess.Popen(
        [*command, "channels", "connect", "x-police", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin:/bin", "SIGNPOST_TEST_X_SECRET": fake.client_secret},
    )
    address = proc.stdout.readline().strip()  # what the person opens in a browser

    consent = httpx.get(address, follow_redirects=True, timeout=10)  # the browser's trip
    out, err = proc.communicate(timeout=30)

    assert proc.returncode == 0, err
    assert address.startswith(f"{fake.url}/i/oauth2/authorize?")
    assert "code_challenge_method=S256" in address
    assert consent.status_code == 200 and "close this tab" in consent.text
    stored = json.loads(path.read_text())
    assert stored["access_token"] == fake.access_token
    assert stored["refresh_token"] == fake.refresh_token
    assert path.stat().st_mode & 0o777 == 0o600
    assert f"connected 'x-police': tokens written to {path}" in err
    assert stored["access_token"] not in out + err and fake.client_secret not in out + err


def test_x_counts_as_x_does_and_premium_raises_the_limit() -> None:
    from channels.registry import limits_for

    (standard,) = limits_for("x", has_media=False)
    (premium,) = limits_for("x", has_media=False, options={"max_length": 25_000})
    text = "Call 0808 1000 900 🙂 https://www.stopitnow.org.uk/get-help/a/very/long/path/indeed"

    assert standard.count(text) == len("Call 0808 1000 900 ") + 2 + 1 + 23  # emoji 2, URL 23
    assert (standard.limit, premium.limit) == (280, 25_000)


@pytest.mark.parametrize(
    ("channel", "options", "said"),
    [
        ("nowhere", {}, "no channel named 'nowhere' (configured: mastodon, x-police)"),
        ("x-police", {"token_file": None}, "[channels.x-police] token_file: set the file"),
        ("x-police", {"client_id": None}, "x-police: set client_id (your X app's OAuth 2"),
        ("mastodon", {}, "channel 'mastodon' (mastodon) has no OAuth connection"),
    ],
)
def test_channels_connect_refuses_what_it_cannot_connect_in_one_line(
    tmp_path: Path, channel: str, options: dict, said: str
) -> None:
    from typer.testing import CliRunner

    from scheduler.cli import app
    from scheduler.configfile import ConfigFile
    from tests.conftest import error_line

    x_options = {
        "username": "stopitnow",
        "token_file": str(tmp_path / "x.json"),
        "client_id": "cid",
        **options,
    }
    config = (
        ConfigFile("sqlite:///" + str(tmp_path / "db.sqlite"))
        .with_channel("x-police", "x", **{k: v for k, v in x_options.items() if v is not None})
        .with_channel("mastodon", "mastodon", url="https://m.example", token_env="M_TOKEN")
        .write(tmp_path / "config.toml")
    )

    result = CliRunner().invoke(app, ["--config", str(config), "channels", "connect", channel])

    assert said in error_line(result)
    assert not (tmp_path / "x.json").exists()  # nothing written
