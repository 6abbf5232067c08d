"""The config file (DESIGN §7): every mistake is one line naming the file, the key and what
was expected; durations read as "90s", "15m", "2h"; relative paths are beside the file.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from channels.registry import TYPES
from posts.store import SCHEMA_REVISION
from scheduler.cli import app
from scheduler.config import load, parse_duration
from tests.conftest import CONFIG as TEST_CONFIG
from tests.conftest import Signpost

# These tests are about reading the config file, not about the database: each writes its own
# config with its own SQLite file beside it, whatever engine the suite runs on.
CONFIG = TEST_CONFIG.replace("{database_url}", "sqlite:///signpost.db")

runner = CliRunner()


def error_line(result: Result, exit_code: int = 1) -> str:
    """The one ``error: ...`` line a failed command printed, without the prefix."""
    assert result.exit_code == exit_code, (result.stdout, result.stderr, result.exception)
    assert isinstance(result.exception, SystemExit), f"not a clean exit: {result.exception!r}"
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: "), lines[0]
    return lines[0].removeprefix("error: ")


def write_config(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


# (what is wrong, TOML added to the valid test config, the message after "<path>: ")
MISTAKES = [
    (
        "unknown top-level key",
        '[databse]\nurl = "sqlite:///x.db"\n',
        "unknown key 'databse' (known: approval, channels, daemon, database, defaults,"
        " notify, security, users)",
    ),
    (
        "unknown key in [daemon]",
        '[daemon]\ngrase = "15m"\n',
        "unknown key 'grase' in [daemon] (known: grace, health, lease, max_attempts,"
        " retry_base, send_deadline, sync_interval)",
    ),
    (
        "max_attempts is a word",
        '[daemon]\nmax_attempts = "eight"\n',
        "[daemon] max_attempts: expected a whole number of at least 1, got 'eight'",
    ),
    (
        "max_attempts is zero",
        "[daemon]\nmax_attempts = 0\n",
        "[daemon] max_attempts: expected a whole number of at least 1, got 0",
    ),
    (
        "sync_interval is a string",
        '[daemon]\nsync_interval = "2"\n',
        "[daemon] sync_interval: expected a number of seconds above zero, got '2'",
    ),
    (
        "grace is not a duration",
        '[daemon]\ngrace = "15 minutes"\n',
        '[daemon] grace: expected a duration such as "90s", "15m" or "2h", got \'15 minutes\'',
    ),
    (
        "lease is a bare number",
        "[daemon]\nlease = 60\n",
        '[daemon] lease: expected a duration such as "90s", "15m" or "2h", got 60',
    ),
    (
        "unknown time zone",
        '[defaults]\ntz = "Europe/Londn"\n',
        "[defaults] tz: expected an IANA time zone such as \"Europe/London\", got 'Europe/Londn'",
    ),
    (
        "unknown role",
        '[users.eve]\nroles = ["author", "publisher"]\n',
        "[users.eve] roles: expected roles from admin, approver, author, got 'publisher'",
    ),
    (
        "unknown channel type",
        '[channels.fax]\ntype = "fax"\nurl = "https://fax.example"\n',
        f"[channels.fax] type: expected one of {', '.join(TYPES)}, got 'fax'",
    ),
    (
        "key of another channel type",
        '[channels.room]\ntype = "matrix"\nurl = "https://matrix.example"\nchat = "@x"\n',
        "unknown key 'chat' in [channels.room] for type matrix"
        " (known: room, token_env, token_file, type, url)",
    ),
]


@pytest.mark.parametrize(
    ("added", "expected"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES]
)
def test_config_mistake_is_one_line_naming_file_and_key(
    signpost: Signpost, tmp_path: Path, added: str, expected: str
) -> None:
    config = write_config(tmp_path / "etc", CONFIG + "\n" + added)

    result = signpost("carol", "init", config=config)

    assert error_line(result) == f"{config}: {expected}"
    assert not (tmp_path / "etc" / "signpost.db").exists()


def test_wrong_type_inside_a_table_the_config_already_has(
    signpost: Signpost, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path, CONFIG.replace("allow_actor_override = true", 'allow_actor_override = "yes"')
    )

    result = signpost("carol", "init", config=config)

    assert error_line(result) == (
        f"{config}: [security] allow_actor_override: expected true or false, got 'yes'"
    )


def test_invalid_toml_names_the_file_and_the_line(signpost: Signpost, tmp_path: Path) -> None:
    config = write_config(tmp_path, "[daemon\ngrace = '15m'\n")

    result = signpost("carol", "init", config=config)

    message = error_line(result)
    assert message.startswith(f"{config}: not valid TOML: ")
    assert "line 1" in message


def test_missing_config_file(signpost: Signpost, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "config.toml"

    result = signpost("carol", "status", config=missing)

    assert error_line(result) == f"config file {missing} not found"


def test_time_zone_that_is_a_zone_group_is_a_config_error(
    signpost: Signpost, tmp_path: Path
) -> None:
    config = write_config(tmp_path, CONFIG + '\n[defaults]\ntz = "Europe"\n')

    result = signpost("carol", "init", config=config)

    assert error_line(result) == (
        f'{config}: [defaults] tz: expected an IANA time zone such as "Europe/London",'
        " got 'Europe'"
    )


# --- where the config comes from ------------------------------------------------------------


def test_signpost_config_is_used_when_config_option_is_absent(tmp_path: Path) -> None:
    config = write_config(tmp_path / "etc", CONFIG)

    result = runner.invoke(
        app, ["init"], env={"SIGNPOST_CONFIG": str(config), "SIGNPOST_ACTOR": "carol"}
    )

    assert result.exit_code == 0, result.stderr
    assert (
        result.stderr
        == f"database {tmp_path / 'etc' / 'signpost.db'} created (schema {SCHEMA_REVISION})\n"
    )


def test_signpost_config_mistakes_name_that_file(tmp_path: Path) -> None:
    config = write_config(tmp_path / "etc", CONFIG + '\n[daemon]\ngrace = "soon"\n')

    result = runner.invoke(app, ["status"], env={"SIGNPOST_CONFIG": str(config)})

    assert error_line(result) == (
        f'{config}: [daemon] grace: expected a duration such as "90s", "15m" or "2h", got \'soon\''
    )


def test_config_option_wins_over_signpost_config(tmp_path: Path) -> None:
    good = write_config(tmp_path / "good", CONFIG)
    bad = write_config(tmp_path / "bad", "not toml at all [")

    result = runner.invoke(
        app,
        ["--config", str(good), "init"],
        env={"SIGNPOST_CONFIG": str(bad), "SIGNPOST_ACTOR": "carol"},
    )

    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "good" / "signpost.db").exists()
    assert not (tmp_path / "bad" / "signpost.db").exists()


def test_without_option_or_variable_the_config_is_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    result = runner.invoke(app, ["status"])

    assert error_line(result) == f"config file {tmp_path / 'config.toml'} not found"


# --- durations and paths --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d", timedelta(days=1)),
        ("500ms", timedelta(milliseconds=500)),
        (" 15m ", timedelta(minutes=15)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["15 minutes", "90", "1h 30m", "h", "", "15M", "-5m"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_daemon_table_is_read_into_settings(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        CONFIG + '\n[daemon]\nsync_interval = 0.5\ngrace = "5m"\nhealth = "127.0.0.1:9999"\n'
        'lease = "90s"\nmax_attempts = 3\nretry_base = "1h30m"\n'
        '\n[defaults]\ntz = "America/New_York"\n',
    )

    settings = load(config)

    assert settings.daemon.sync_interval == 0.5
    assert settings.daemon.grace == timedelta(minutes=5)
    assert settings.daemon.health == "127.0.0.1:9999"
    assert settings.daemon.lease == timedelta(seconds=90)
    assert settings.daemon.max_attempts == 3
    assert settings.daemon.retry_base == timedelta(hours=1, minutes=30)
    assert settings.default_tz == "America/New_York"


@pytest.mark.parametrize(
    ("url", "where"),
    [
        ("sqlite:///signpost.db", "etc/signpost.db"),
        ("sqlite:///data/signpost.db", "etc/data/signpost.db"),
    ],
)
def test_relative_sqlite_path_is_beside_the_config_file(
    signpost: Signpost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, where: str
) -> None:
    config = write_config(tmp_path / "etc", CONFIG.replace("sqlite:///signpost.db", url))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    result = signpost("carol", "init", config=config)

    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"database {tmp_path / where} created (schema {SCHEMA_REVISION})\n"
    assert (tmp_path / where).is_file()
    assert list(elsewhere.iterdir()) == []
    assert load(config).database_url == f"sqlite:///{tmp_path / where}"


def test_absolute_sqlite_path_is_kept(tmp_path: Path) -> None:
    db = tmp_path / "var" / "signpost.db"
    config = write_config(
        tmp_path / "etc", CONFIG.replace("sqlite:///signpost.db", f"sqlite:///{db}")
    )

    assert load(config).database_url == f"sqlite:///{db}"
