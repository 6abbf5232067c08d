"""``signpost web`` as an operator runs it: a real process on a loopback port (issue 12).

It serves until SIGTERM and exits 0; a taken port, or an OpenID config whose secret is not
in the environment, is one line naming the key, exit 1, before anything is served; the
log has one line per request and never a query string.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.conftest import Signpost, error_line, team_config
from tests.database import TestDatabase
from tests.peers import free_port

SIGNPOST = str(Path(sys.executable).with_name("signpost"))


def web_config(database: TestDatabase, folder: Path, port: int, **web: str) -> Path:
    return (
        team_config(database.url)
        .with_table("web", listen=f"127.0.0.1:{port}", **web)
        .write(folder / "web.toml")
    )


def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNPOST_")}
    with log.open("wb") as out:
        return subprocess.Popen(
            [SIGNPOST, "--config", str(config), "web"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )


def test_the_page_serves_until_sigterm_and_logs_no_query_string(
    initialised: Signpost, database: TestDatabase, tmp_path: Path
) -> None:
    port = free_port()
    config = web_config(database, tmp_path, port)
    log = tmp_path / "web.log"
    proc = start(config, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/sign-in?next=/posts/1&code=SECRET42")
                break
            except httpx.TransportError:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "signpost web did not start"
                time.sleep(0.1)
        assert page.status_code == 200
        assert "Sign in" in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)

    output = log.read_text()
    assert code == 0, output
    assert "GET /sign-in 200" in output
    assert "SECRET42" not in output
    assert "Traceback" not in output


def test_a_taken_port_is_one_line_naming_web_listen(
    initialised: Signpost, database: TestDatabase, tmp_path: Path
) -> None:
    with closing(socket.socket()) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        config = web_config(database, tmp_path, port)

        result = initialised("carol", "web", config=config)

    assert error_line(result) == (
        f"[web] listen 127.0.0.1:{port}: port already in use (is another Signpost process running?)"
    )


def test_oidc_without_its_client_secret_in_the_environment_says_which_variable(
    initialised: Signpost, database: TestDatabase, tmp_path: Path
) -> None:
    config = web_config(
        database,
        tmp_path,
        free_port(),
        auth="oidc",
        issuer="https://login.example.org/realms/police",
        client_id="signpost",
        client_secret_env="SIGNPOST_OIDC_SECRET",
    )

    result = initialised("carol", "web", config=config)

    assert error_line(result) == (
        "[web] client_secret_env names $SIGNPOST_OIDC_SECRET, which is not set:"
        " export the client secret your identity provider gave Signpost"
    )


@pytest.mark.parametrize("listen", ["8080", "localhost:http", "127.0.0.1:70000"])
def test_a_bad_listen_value_names_the_key(
    initialised: Signpost, database: TestDatabase, tmp_path: Path, listen: str
) -> None:
    config = team_config(database.url).with_table("web", listen=listen).write(tmp_path / "w.toml")

    message = error_line(initialised("carol", "web", config=config))

    assert "[web] listen" in message and "HOST:PORT" in message


def test_without_the_web_extra_it_says_how_to_install_it(
    initialised: Signpost, database: TestDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if never installed
    config = web_config(database, tmp_path, free_port())

    message = error_line(initialised("carol", "web", config=config))

    assert message == (
        "the review page needs the web extra (uvicorn is missing): pip install 'signpost[web]'"
    )
