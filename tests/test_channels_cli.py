"""`signpost channels list` and `channels check` against real loopback peers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scheduler.cli import app
from tests.peers import SmtpServer, WebhookReceiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
runner = CliRunner()


@pytest.fixture
def config(
    tmp_path: Path,
    webhook_receiver: WebhookReceiver,
    smtp_server: SmtpServer,
    future_type: str,
) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[channels.newsroom]
type = "webhook"
url = "{webhook_receiver.url}/hook"
token_env = "SIGNPOST_TEST_HOOK_SECRET"

[channels.briefing]
type = "email"
host = "{smtp_server.host}"
port = {smtp_server.port}
mode = "{smtp_server.mode}"
username = "signpost"
token_env = "SIGNPOST_TEST_SMTP_PASSWORD"
from = "Signpost <signpost@police.example>"
to = "comms@police.example"
ca_file = "{smtp_server.ca_file}"

[channels.website]
type = "feed"
path = "public/feed.atom"

[channels.page]
type = "pigeon"
""",
        encoding="utf-8",
    )
    return path


def test_list_shows_types_and_where_secrets_come_from(config: Path):
    result = runner.invoke(app, ["--config", str(config), "channels", "list", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["newsroom"]["secret"] == "$SIGNPOST_TEST_HOOK_SECRET"
    assert rows["page"]["publishes"] is False
    assert rows["briefing"]["publishes"] is True
    assert SECRET not in result.stdout


def test_check_says_which_channels_work_and_posts_nothing(
    config: Path, webhook_receiver: WebhookReceiver, smtp_server: SmtpServer
):
    env = {"SIGNPOST_TEST_HOOK_SECRET": SECRET, "SIGNPOST_TEST_SMTP_PASSWORD": "s3cret"}
    result = runner.invoke(
        app, ["--config", str(config), "channels", "check", "--format", "json"], env=env
    )
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["newsroom"]["ok"] is True
    assert rows["briefing"]["ok"] is True
    assert rows["briefing"]["detail"] == f"connected to {smtp_server.host} with TLS as signpost"
    assert rows["website"]["ok"] is False  # its folder does not exist yet
    assert "does not exist" in rows["website"]["detail"]
    assert rows["page"] == {
        "name": "page",
        "type": "pigeon",
        "ok": False,
        "detail": "type pigeon cannot publish yet",
    }
    assert result.exit_code == 1  # not every channel works
    assert smtp_server.sink.messages == []
    assert all(r.method == "HEAD" for r in webhook_receiver.requests)


def test_check_names_the_missing_secret_not_its_value(config: Path):
    result = runner.invoke(app, ["--config", str(config), "channels", "check", "newsroom"])
    assert result.exit_code == 1
    assert "environment variable SIGNPOST_TEST_HOOK_SECRET (token_env) is not set" in result.stdout


def test_check_of_an_unknown_channel(config: Path):
    result = runner.invoke(app, ["--config", str(config), "channels", "check", "nope"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no channel named 'nope'")


def test_a_channel_type_is_registered_once():
    from channels.registry import ChannelType, register

    with pytest.raises(ValueError, match="channel type webhook is registered twice"):
        register(ChannelType("webhook"))
