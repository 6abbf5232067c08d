"""Token files (DESIGN §10): private, rewritten atomically, refreshed once across processes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from channels.base import PermanentError
from channels.tokens import TokenFile, Tokens

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECRET_ACCESS = "access-token-never-shown"


def token_file(tmp_path: Path, **tokens: str) -> TokenFile:
    store = TokenFile("x", tmp_path / "x.tokens.json")
    store.write(
        Tokens(
            access_token=tokens.get("access", SECRET_ACCESS),
            refresh_token=tokens.get("refresh", "refresh-1"),
            expires_at=datetime.fromisoformat(tokens.get("expires", "2026-03-01T14:00:00+00:00")),
        )
    )
    return store


def test_a_token_file_is_written_private_and_read_back(tmp_path: Path) -> None:
    store = token_file(tmp_path)

    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    tokens = store.read()
    assert (tokens.access_token, tokens.refresh_token) == (SECRET_ACCESS, "refresh-1")
    assert tokens.expires_at == datetime(2026, 3, 1, 14, 0, tzinfo=UTC)
    assert [p.name for p in tmp_path.iterdir()] == ["x.tokens.json"]  # no temporary left


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda p: p.unlink(), "does not exist; run: signpost channels connect x"),
        (lambda p: p.chmod(0o644), "is readable by group or others; run: chmod 600"),
        (lambda p: p.write_text("{not json " + SECRET_ACCESS), "is not a token file"),
        (lambda p: p.write_text('{"refresh_token": "r"}'), "is not a token file"),
    ],
)
def test_a_bad_token_file_is_named_and_its_content_never_shown(
    tmp_path: Path, damage, words: str
) -> None:
    store = token_file(tmp_path)
    damage(store.path)

    with pytest.raises(PermanentError) as refused:
        store.read()

    assert words in str(refused.value)
    assert str(store.path) in str(refused.value)
    assert SECRET_ACCESS not in str(refused.value)


def test_tokens_are_refreshed_only_when_about_to_expire(tmp_path: Path) -> None:
    store = token_file(tmp_path)
    calls: list[Tokens] = []

    def refresh(old: Tokens) -> Tokens:
        calls.append(old)
        return Tokens.from_answer(
            {"access_token": "access-2", "refresh_token": "refresh-2", "expires_in": 7200},
            NOW + timedelta(hours=2),
        )

    assert store.current(NOW, refresh).access_token == SECRET_ACCESS
    assert calls == []
    soon = datetime(2026, 3, 1, 13, 56, tzinfo=UTC)  # four minutes before expiry

    assert store.current(soon, refresh).access_token == "access-2"
    assert [old.refresh_token for old in calls] == ["refresh-1"]
    assert store.read().refresh_token == "refresh-2"  # the rotated one is kept
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_a_network_that_keeps_the_refresh_token_keeps_it_in_the_file(tmp_path: Path) -> None:
    store = token_file(tmp_path)
    old = store.read()

    fresh = Tokens.from_answer({"access_token": "a2", "expires_in": 5184000}, NOW, old=old)

    assert fresh.refresh_token == "refresh-1"
    assert fresh.expires_at == NOW + timedelta(days=60)


def test_without_a_refresh_token_an_expired_token_says_to_connect_again(tmp_path: Path) -> None:
    store = TokenFile("threads", tmp_path / "t.json")
    store.write(Tokens(access_token="a", expires_at=NOW - timedelta(minutes=1)))

    with pytest.raises(PermanentError, match="run: signpost channels connect threads"):
        store.current(NOW, lambda old: old)


RACER = textwrap.dedent(
    """
    import json, sys, time
    from datetime import datetime
    from channels.tokens import TokenFile, Tokens

    store = TokenFile("x", sys.argv[1])
    used = store.read()
    open(sys.argv[2], "a").write("ready\\n")
    while len(open(sys.argv[2]).read().split()) < 2:  # both have read the old token
        time.sleep(0.01)

    def refresh(old):
        with open(sys.argv[3], "a") as spent:
            spent.write(old.refresh_token + "\\n")
        time.sleep(0.3)  # a slow token endpoint: the other process is waiting on the lock
        later = datetime.fromisoformat("2026-03-01T16:00:00+00:00")
        return Tokens("access-new", "refresh-2", later)

    print(store.refreshed(used, refresh, datetime.fromisoformat(sys.argv[4])).access_token)
    """
)


def test_two_processes_refreshing_at_once_spend_the_refresh_token_once(tmp_path: Path) -> None:
    store = token_file(tmp_path)
    ready, spent = tmp_path / "ready", tmp_path / "spent"
    ready.touch()
    spent.touch()
    args = [str(store.path), str(ready), str(spent), NOW.isoformat()]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, *args], stdout=subprocess.PIPE, text=True, env=env
        )
        for _ in range(2)
    ]

    outputs = [r.communicate(timeout=30)[0].strip() for r in racers]

    assert [r.returncode for r in racers] == [0, 0]
    assert outputs == ["access-new", "access-new"]
    assert spent.read_text().split() == ["refresh-1"]  # one refresh, one spent token
    assert json.loads(store.path.read_text())["refresh_token"] == "refresh-2"
