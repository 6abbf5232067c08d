"""The config file (DESIGN §7): every mistake is one line naming the file, the key and what
was expected; durations read as "90s", "15m", "2h"; relative paths are beside the file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from channels.registry import TYPES
from posts.store import SCHEMA_REVISION
from scheduler.cli import app
from scheduler.config import load, parse_duration
from scheduler.configfile import ConfigFile
from tests.conftest import Signpost, error_line, team_config

# These tests are about reading the config file, not about the database: each writes its own
# config with its own SQLite file beside it, whatever engine the suite runs on.
CONFIG = team_config("sqlite:///signpost.db")

runner = CliRunner()


def write_config(folder: Path, config: ConfigFile | str) -> Path:
    """``config`` as ``folder/config.toml``: built, or as text where the text is the point."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(config if isinstance(config, str) else config.text(), encoding="utf-8")
    return path


# (what is wrong, how the valid test config is changed, the message after "<path>: ")
MISTAKES: list[tuple[str, Callable[[ConfigFile], ConfigFile], str]] = [
    (
        "unknown top-level key",
        lambda c: c.with_table("databse", url="sqlite:///x.db"),
        "unknown key 'databse' (known: approval, channels, daemon, database, defaults,"
        " media, notify, security, users, web)",
    ),
    (
        "media folder without its URL",
        lambda c: c.with_table("media", public_dir="public"),
        "[media] public_url: expected a value (public_dir and public_url go together)",
    ),
    (
        "media URL not http",
        lambda c: c.with_table("media", public_dir="public", public_url="ftp://example.org/m"),
        "[media] public_url: expected the folder's public http(s) URL, got 'ftp://example.org/m'",
    ),
    (
        "unknown key in [daemon]",
        lambda c: c.with_daemon(grase="15m"),
        "unknown key 'grase' in [daemon] (known: grace, health, lease, max_attempts,"
        " retry_base, send_deadline, sync_interval)",
    ),
    (
        "max_attempts is a word",
        lambda c: c.with_daemon(max_attempts="eight"),
        "[daemon] max_attempts: expected a whole number of at least 1, got 'eight'",
    ),
    (
        "max_attempts is zero",
        lambda c: c.with_daemon(max_attempts=0),
        "[daemon] max_attempts: expected a whole number of at least 1, got 0",
    ),
    (
        "sync_interval is a string",
        lambda c: c.with_daemon(sync_interval="2"),
        "[daemon] sync_interval: expected a number of seconds above zero, got '2'",
    ),
    (
        "grace is not a duration",
        lambda c: c.with_daemon(grace="15 minutes"),
        '[daemon] grace: expected a duration such as "90s", "15m" or "2h", got \'15 minutes\'',
    ),
    (
        "lease is a bare number",
        lambda c: c.with_daemon(lease=60),
        '[daemon] lease: expected a duration such as "90s", "15m" or "2h", got 60',
    ),
    (
        "unknown time zone",
        lambda c: c.with_table("defaults", tz="Europe/Londn"),
        "[defaults] tz: expected an IANA time zone such as \"Europe/London\", got 'Europe/Londn'",
    ),
    (
        "unknown role",
        lambda c: replace(c, users={**c.users, "eve": ["author", "publisher"]}),
        "[users.eve] roles: expected roles from admin, approver, author, got 'publisher'",
    ),
    (
        "web listen without a port",
        lambda c: c.with_table("web", listen="localhost"),
        "[web] listen: expected HOST:PORT such as \"127.0.0.1:8080\", got 'localhost'",
    ),
    (
        "web base_url not a URL",
        lambda c: c.with_table("web", base_url="signpost.example.org"),
        '[web] base_url: expected an http(s) URL such as "https://signpost.example.org",'
        " got 'signpost.example.org'",
    ),
    (
        "web auth unknown",
        lambda c: c.with_table("web", auth="ldap"),
        '[web] auth: expected "password" or "oidc", got \'ldap\'',
    ),
    (
        "oidc without a client id",
        lambda c: c.with_table(
            "web", auth="oidc", issuer="https://login.example.org", client_secret_env="SECRET"
        ),
        '[web] client_id: expected a value when auth = "oidc"',
    ),
    (
        "unknown channel type",
        lambda c: c.with_channel("fax", "fax", url="https://fax.example"),
        f"[channels.fax] type: expected one of {', '.join(TYPES)}, got 'fax'",
    ),
    (
        "key of another channel type",
        lambda c: c.with_channel("room", "matrix", url="https://matrix.example", chat="@x"),
        "unknown key 'chat' in [channels.room] for type matrix"
        " (known: room, token_env, token_file, type, url)",
    ),
]


@pytest.mark.parametrize(
    ("mistake", "expected"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES]
)
def test_config_mistake_is_one_line_naming_file_and_key(
    signpost: Signpost,
    tmp_path: Path,
    mistake: Callable[[ConfigFile], ConfigFile],
    expected: str,
) -> None:
    config = write_config(tmp_path / "etc", mistake(CONFIG))

    result = signpost("carol", "init", config=config)

    assert error_line(result) == f"{config}: {expected}"
    assert not (tmp_path / "etc" / "signpost.db").exists()


def test_wrong_type_inside_a_table_the_config_already_has(
    signpost: Signpost, tmp_path: Path
) -> None:
    config = write_config(tmp_path, replace(CONFIG, actor_override="yes"))  # type: ignore[arg-type]

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
    config = write_config(tmp_path, CONFIG.with_table("defaults", tz="Europe"))

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
    config = write_config(tmp_path / "etc", CONFIG.with_daemon(grace="soon"))

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
        CONFIG.with_daemon(
            sync_interval=0.5,
            grace="5m",
            health="127.0.0.1:9999",
            lease="90s",
            max_attempts=3,
            retry_base="1h30m",
        ).with_table("defaults", tz="America/New_York"),
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
    config = write_config(tmp_path / "etc", replace(CONFIG, database_url=url))
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
    config = write_config(tmp_path / "etc", replace(CONFIG, database_url=f"sqlite:///{db}"))

    assert load(config).database_url == f"sqlite:///{db}"


def test_web_table_is_read_into_settings(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        CONFIG.with_table(
            "web",
            listen="0.0.0.0:9000",
            base_url="https://signpost.example.org",
            auth="oidc",
            issuer="https://login.example.org/realms/police",
            client_id="signpost",
            client_secret_env="SIGNPOST_OIDC_SECRET",
        ),
    )

    settings = load(config)

    assert (settings.web.host, settings.web.port) == ("0.0.0.0", 9000)
    assert settings.web.secure_cookies
    assert settings.web.username_claim == "preferred_username"
    assert settings.notify.base_url == "https://signpost.example.org"


def test_without_a_web_table_the_page_listens_on_loopback_with_passwords(tmp_path: Path) -> None:
    settings = load(write_config(tmp_path, CONFIG))

    assert (settings.web.host, settings.web.port, settings.web.auth) == (
        "127.0.0.1",
        8080,
        "password",
    )
    assert not settings.web.secure_cookies
