"""Set-up that several test modules share, written once here instead of once per module.

- the CLI on a frozen clock: the ``clock`` and ``cli`` fixtures, and ``on_clock`` for a
  module whose clock stands elsewhere or whose CLI fixture does more;
- the steps a story takes on its way to what a test checks: approve a post, schedule it,
  read the deliveries back;
- what the channel tests hand an adapter: an HTTP client, a build on the wall clock.

Modules import the fixtures they use by name, which is how pytest finds them::

    from tests.shared import cli, clock  # noqa: F401  (fixtures)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import Result

from channels.base import Adapter, Message, Receipt
from channels.registry import build
from scheduler.clock import FrozenClock
from tests.conftest import HELPLINE, Signpost, add_post

#: where most modules stop the clock: Sunday 1 March 2026, noon GMT
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
#: words that meet the stop-it-now campaign's rules
TEXT = f"Confidential help to stop: {HELPLINE}."


# --- the CLI on a frozen clock ---------------------------------------------------------------


def on_clock(signpost: Signpost, clock: FrozenClock) -> Signpost:
    """``signpost`` with every command told the time by ``clock``.

    The CLI takes its clock from the Typer context object; this is the one wrapper for every
    module that freezes time, whatever it calls its fixture and wherever its clock stands.
    """

    def run(actor: str | None, *args: str, **kwargs: Any) -> Result:
        return signpost(actor, *args, obj={"clock": clock}, **kwargs)

    return run


@pytest.fixture
def clock() -> FrozenClock:
    """The test's clock: NOW until the test advances it."""
    return FrozenClock(NOW)


@pytest.fixture
def cli(signpost: Signpost, clock: FrozenClock) -> Signpost:
    """The CLI on the test's frozen clock."""
    return on_clock(signpost, clock)


# --- the steps of a post's story -------------------------------------------------------------


def as_json(result: Result) -> Any:
    """What a command printed as JSON, once it is known to have succeeded (else its stderr)."""
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def approve(cli: Signpost, post_id: int) -> None:
    """alice submits the post and bob approves revision 1: the four-eyes step most stories
    pass on their way to what they test."""
    assert cli("alice", "post", "submit", str(post_id)).exit_code == 0
    assert cli("bob", "post", "approve", str(post_id), "--revision", "1").exit_code == 0


def approved(cli: Signpost, text: str = TEXT) -> int:
    """A new post of alice's, submitted and approved: its id."""
    post = add_post(cli, text)
    approve(cli, post["id"])
    return post["id"]


def schedule_post(
    cli: Signpost, post_id: int, when: str, channels: str = "newsroom", *extra: str
) -> Result:
    """alice's ``post schedule`` with JSON output, left unchecked: some tests want a refusal."""
    return cli(
        "alice",
        "post",
        "schedule",
        str(post_id),
        "--at",
        when,
        "--channels",
        channels,
        *extra,
        "--format",
        "json",
    )


def schedule(
    cli: Signpost, post_id: int, at: str = "+10m", channels: str = "newsroom", *extra: str
) -> list[dict]:
    """Schedule a post that is known to be schedulable: the deliveries it made."""
    return as_json(schedule_post(cli, post_id, at, channels, *extra))["deliveries"]


def deliveries(cli: Signpost) -> dict[int, dict]:
    """Every delivery as ``deliveries list`` shows it, by id."""
    return {d["id"]: d for d in as_json(cli("bob", "deliveries", "list", "--format", "json"))}


def post_state(cli: Signpost, post_id: int) -> str:
    """The post's state as ``post show`` gives it."""
    return as_json(cli("bob", "post", "show", str(post_id), "--format", "json"))["state"]


# --- channel adapters ------------------------------------------------------------------------


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """The HTTP client an adapter under test is built with, closed after the test."""
    with httpx.Client() as c:
        yield c


def on_wall_clock(channel_type: str, options: dict, client: httpx.Client) -> Adapter:
    """A channel of ``channel_type`` (named so too) as the registry builds it, on the wall
    clock: the real servers these adapters talk to check the times they are sent."""
    return build(channel_type, channel_type, options, client=client, now=lambda: datetime.now(UTC))


class Recorder:
    """A channel that keeps what the engine hands it and answers every send with a receipt."""

    name, deduplicates, dedup_window = "newsroom", False, None

    def __init__(self, kind: str) -> None:
        self.type = kind
        self.sent: list[Message] = []

    def publish(self, message: Message) -> Receipt:
        self.sent.append(message)
        return Receipt("id")


def token_file(path: Path, tokens: dict[str, Any]) -> Path:
    """A token file as ``channels connect`` leaves one: JSON, readable by its owner only."""
    path.write_text(json.dumps(tokens))
    path.chmod(0o600)
    return path
