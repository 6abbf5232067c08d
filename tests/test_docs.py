"""Every command has help text with an example and is in docs/cli.md; README and CI agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from scheduler.cli import app

ROOT = Path(__file__).resolve().parents[1]


def all_commands(group=None, prefix=()):
    group = group or get_command(app)
    for name, command in group.commands.items():
        path = (*prefix, name)
        if hasattr(command, "commands"):
            yield from all_commands(command, path)
        else:
            yield path, command


COMMANDS = list(all_commands())


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_command_has_help_with_example_and_docs(path, command):
    assert command.help and "Example:" in command.help, f"{' '.join(path)} needs an example"
    assert f"signpost {' '.join(path)}" in (ROOT / "docs" / "cli.md").read_text()
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.stdout


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```sh\n(python3 -m venv .*?)\n```", readme)
    assert len(commands) == 2, "README's quick start has exactly two commands"
    demo, tests = commands
    assert demo.endswith("signpost demo")
    assert tests in (ROOT / ".ci" / "run").read_text()


def _settings_of(text: str):
    import tomllib

    from scheduler.config import _Reader

    return _Reader(ROOT / "config.toml").settings(tomllib.loads(text))


def test_example_config_and_its_commented_channels_are_valid():
    text = (ROOT / "config.toml").read_text()
    assert sorted(_settings_of(text).users) == ["alice", "bob", "carol"]
    uncommented = re.sub(r"^# (\[channels\.|\[media\]|[a-z_]+ = )", r"\1", text, flags=re.M)
    channels = _settings_of(uncommented).channels
    assert _settings_of(uncommented).web.auth == "oidc"  # the commented single sign-on works
    assert {c.type for c in channels.values()} >= {
        "webhook",
        "feed",
        "email",
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
        "instagram",
    }


def test_every_channel_example_in_the_docs_is_valid_config():
    blocks = re.findall(r"```toml\n(.*?)```", (ROOT / "docs" / "channels.md").read_text(), re.S)
    assert len(blocks) >= 9
    for block in blocks:
        assert _settings_of(block).channels
