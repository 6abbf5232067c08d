"""Signing in through a real OpenID Connect provider process on loopback (issue 12).

The provider is oidc-provider-mock (from PyPI): a real Authlib-based authorization server
with discovery, an authorization form, a token endpoint and signed ID tokens. The review
page talks to it over HTTP exactly as it would to Entra ID or Keycloak; a "browser" (httpx)
carries the redirects between the two and submits the provider's sign-in form.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from scheduler.clock import FrozenClock
from tests.conftest import Signpost, team_config
from tests.database import TestDatabase
from tests.peers import free_port
from tests.shared import cli, clock  # noqa: F401  (fixtures)
from tests.webpage import Visitor, text_of, visiting

CLIENT_SECRET = "provider-issued-client-secret"
#: who the provider knows: bob is a Signpost approver, mallory is nobody here
ACCOUNTS = {"bob-0001": "bob", "mallory-0666": "mallory"}


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The provider's issuer URL, its process running for the module's tests."""
    log = tmp_path_factory.mktemp("oidc") / "provider.log"
    port = free_port()
    users = [
        json.dumps({"sub": sub, "preferred_username": name, "email": f"{name}@example.org"})
        for sub, name in ACCOUNTS.items()
    ]
    command = [sys.executable, "-W", "ignore", "-m", "oidc_provider_mock", "--port", str(port)]
    command += ["--require-nonce", "true"]
    for claims in users:
        command += ["--user-claims", claims]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    issuer = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=1).raise_for_status()
            break
        except httpx.HTTPError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"the OpenID provider did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
    yield issuer
    proc.terminate()
    proc.wait(10)


def oidc_config(database: TestDatabase, path: Path, issuer: str) -> Path:
    return (
        team_config(database.url)
        .with_table(
            "web",
            auth="oidc",
            issuer=issuer,
            client_id="signpost-review",
            client_secret_env="SIGNPOST_TEST_OIDC_SECRET",
        )
        .write(path)
    )


@pytest.fixture
def config(
    cli: Signpost,  # noqa: F811
    database: TestDatabase,
    tmp_path: Path,
    provider: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """A config with auth = "oidc" against the provider, on an initialised database."""
    path = oidc_config(database, tmp_path / "oidc.toml", provider)
    assert cli("carol", "init", config=path).exit_code == 0
    monkeypatch.setenv("SIGNPOST_TEST_OIDC_SECRET", CLIENT_SECRET)
    return path


@pytest.fixture
def site(config: Path, clock: FrozenClock) -> Iterator[Visitor]:  # noqa: F811
    """The review page on that config, and one browser visiting it."""
    with visiting(config, clock) as visitor:
        yield visitor


def to_provider(site: Visitor) -> httpx.URL:
    """Press "Sign in with your organisation": where the page sends the browser."""
    page = site.get("/sign-in?next=/queue")
    assert "Sign in with your organisation" in text_of(page)
    start = site.get("/sign-in/oidc?next=/queue", follow=False)
    assert start.status_code in (302, 303), start.text
    return httpx.URL(start.headers["location"])


def sign_in_at_provider(authorize: httpx.URL, sub: str) -> str:
    """Submit the provider's form as ``sub``: the callback address it redirects back to."""
    answer = httpx.post(str(authorize), data={"sub": sub}, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def back_at_the_page(site: Visitor, callback: str):
    parts = urlsplit(callback)
    assert f"{parts.scheme}://{parts.netloc}" == "http://signpost.test"
    return site.get(f"{parts.path}?{parts.query}")


def refusals(cli: Signpost, config: Path) -> list[dict]:  # noqa: F811
    result = cli("carol", "audit", "export", "--format", "jsonl", config=config)
    events = [json.loads(line) for line in result.stdout.splitlines()]
    return [e for e in events if e["action"].startswith("web.")]


def test_signing_in_through_the_provider_uses_pkce_state_and_nonce(
    site: Visitor,
    cli: Signpost,  # noqa: F811
    config: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    authorize = to_provider(site)
    asked = parse_qs(authorize.query.decode())

    assert asked["client_id"] == ["signpost-review"]
    assert asked["redirect_uri"] == ["http://signpost.test/sign-in/callback"]
    assert asked["code_challenge_method"] == ["S256"]
    assert len(asked["code_challenge"][0]) >= 43
    assert asked["state"][0] and asked["nonce"][0]
    assert set(asked["scope"][0].split()) == {"openid", "profile", "email"}
    assert CLIENT_SECRET not in str(authorize)

    callback = sign_in_at_provider(authorize, "bob-0001")
    code = parse_qs(urlsplit(callback).query)["code"][0]
    with caplog.at_level("DEBUG"):
        page = back_at_the_page(site, callback)

    assert page.url.path == "/queue"
    assert "Signed in as bob" in text_of(page)
    assert CLIENT_SECRET not in page.text
    # Nothing Signpost logs (its own lines, Authlib's and its HTTP client's requests to the
    # provider) holds the secret or the code; the test browser's request lines do, of course.
    logged = [r.getMessage() for r in caplog.records]
    server_side = [m for m in logged if "http://signpost.test/" not in m]
    assert any("/token" in m for m in server_side), "the token request is logged"
    assert [m for m in server_side if CLIENT_SECRET in m or code in m] == []
    events = refusals(cli, config)
    assert [(e["actor"], e["action"], e["details"]["method"]) for e in events] == [
        ("bob", "web.sign_in", "oidc")
    ]


def test_a_callback_with_the_wrong_state_is_refused(
    site: Visitor,
    cli: Signpost,  # noqa: F811
    config: Path,
) -> None:
    callback = sign_in_at_provider(to_provider(site), "bob-0001")
    forged = callback.replace("state=", "state=forged")

    page = back_at_the_page(site, forged)

    assert page.status_code == 400
    assert "Sign-in did not complete" in text_of(page)
    assert site.get("/queue", follow=False).status_code == 303
    events = refusals(cli, config)
    assert [e["action"] for e in events] == ["web.sign_in_refused"]


def test_a_callback_replayed_in_another_browser_is_refused(site: Visitor) -> None:
    callback = sign_in_at_provider(to_provider(site), "bob-0001")
    other = Visitor(site.client.app)  # no session: it never started this sign-in

    page = back_at_the_page(other, callback)

    assert page.status_code == 400
    assert other.get("/queue", follow=False).status_code == 303


def test_someone_the_provider_knows_but_signpost_does_not_is_refused(
    site: Visitor,
    cli: Signpost,  # noqa: F811
    config: Path,
) -> None:
    page = back_at_the_page(site, sign_in_at_provider(to_provider(site), "mallory-0666"))

    assert page.status_code == 403
    assert "You signed in as 'mallory', who is not a Signpost user here." in text_of(page)
    assert site.get("/queue", follow=False).status_code == 303
    events = refusals(cli, config)
    assert [(e["actor"], e["details"]["reason"]) for e in events] == [("mallory", "not in [users]")]


def test_a_provider_that_does_not_answer_gets_a_page_not_a_traceback(
    cli: Signpost,  # noqa: F811
    database: TestDatabase,
    tmp_path: Path,
    clock: FrozenClock,  # noqa: F811
    closed_port: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = oidc_config(database, tmp_path / "down.toml", f"http://127.0.0.1:{closed_port}")
    assert cli("carol", "init", config=config).exit_code == 0
    monkeypatch.setenv("SIGNPOST_TEST_OIDC_SECRET", CLIENT_SECRET)
    with visiting(config, clock) as visitor:
        page = visitor.get("/sign-in/oidc?next=/queue")

    assert page.status_code == 502
    assert "did not answer properly" in text_of(page)
    assert "Traceback" not in page.text
