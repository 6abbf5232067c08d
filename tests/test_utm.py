"""UTM tags on outgoing links: per delivery, never in the approved text."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from channels.base import Message, Receipt
from channels.bluesky import link_facets
from channels.utm import tag, tag_text
from posts.rules import CampaignRules, Content, check
from posts.store import Store
from scheduler.clock import FrozenClock
from scheduler.config import DaemonSettings, load
from scheduler.delivery import Engine
from tests.conftest import HELPLINE, Signpost

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LINK = "https://www.stopitnow.org.uk/get-help?lang=cy#chat"
TAGS = {"utm_source": "mastodon", "utm_medium": "social", "utm_campaign": "stop-it-now"}


@pytest.mark.parametrize(
    ("url", "tagged"),
    [
        (
            "https://www.stopitnow.org.uk/",
            "https://www.stopitnow.org.uk/?utm_source=mastodon&utm_medium=social"
            "&utm_campaign=stop-it-now",
        ),
        (
            LINK,
            "https://www.stopitnow.org.uk/get-help?lang=cy&utm_source=mastodon&utm_medium=social"
            "&utm_campaign=stop-it-now#chat",
        ),
        (
            "https://x.org/?utm_campaign=posters",  # a tag the author set is kept
            "https://x.org/?utm_campaign=posters&utm_source=mastodon&utm_medium=social",
        ),
    ],
)
def test_tag_keeps_queries_and_fragments(url, tagged):
    assert tag(url, TAGS) == tagged


def test_text_urls_are_tagged_and_the_rest_untouched():
    text = f"Help: {HELPLINE}. See https://www.stopitnow.org.uk/. Thanks"
    assert tag_text(text, TAGS) == (
        f"Help: {HELPLINE}. See https://www.stopitnow.org.uk/?utm_source=mastodon"
        "&utm_medium=social&utm_campaign=stop-it-now. Thanks"
    )
    assert tag_text(text, {}) == text


class Bluesky:
    type = "bluesky"
    options: dict = {}  # noqa: RUF012 - read only


def test_length_is_measured_with_the_tagged_link():
    link = "https://www.stopitnow.org.uk/"
    text = f"{HELPLINE} " + "a" * (300 - len(HELPLINE) - 3 - len(link))  # fits untagged
    content = Content(text=text, link=link)
    rules = CampaignRules(utm=(("utm_medium", "social"), ("utm_campaign", "stop-it-now")))
    assert check(content, CampaignRules(), {"bluesky": Bluesky()}) == []
    [problem] = check(content, rules, {"bluesky": Bluesky()})
    assert problem.message.startswith("too long for bluesky (bluesky)")


def test_bluesky_facets_point_at_the_tagged_link():
    text = tag_text(f"Help {HELPLINE}: https://www.stopitnow.org.uk/", TAGS)
    [facet] = link_facets(text)
    assert facet["features"][0]["uri"].endswith("utm_campaign=stop-it-now")
    start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
    assert text.encode()[start:end].decode() == facet["features"][0]["uri"]


class Recorder:
    """A channel that keeps what it was sent."""

    name, deduplicates, dedup_window = "newsroom", False, None

    def __init__(self, kind: str) -> None:
        self.type = kind
        self.sent: list[Message] = []

    def publish(self, message: Message) -> Receipt:
        self.sent.append(message)
        return Receipt("id")


@pytest.fixture
def cli(signpost: Signpost):
    clock = FrozenClock(NOW)

    def run(actor, *args, **kwargs):
        return signpost(actor, *args, obj={"clock": clock}, **kwargs)

    run.clock = clock
    return run


def send_one(cli, config_file: Path, *schedule_args: str) -> tuple[Message, dict]:
    post = json.loads(
        cli(
            "alice",
            "post",
            "add",
            "--campaign",
            "stop-it-now",
            "--text",
            f"Help: {HELPLINE}. More: https://www.stopitnow.org.uk/faq",
            "--link",
            LINK,
            "--format",
            "json",
        ).stdout
    )
    cli("alice", "post", "submit", str(post["id"]))
    cli("bob", "post", "approve", str(post["id"]), "--revision", "1")
    assert (
        cli(
            "alice",
            "post",
            "schedule",
            str(post["id"]),
            "--at",
            "+1m",
            "--channels",
            "newsroom",
            *schedule_args,
        ).exit_code
        == 0
    )
    cli.clock.advance(timedelta(minutes=1))
    channel = Recorder("mastodon")
    store = Store(load(config_file).database_url)
    engine = Engine(
        store=store,
        settings=DaemonSettings(),
        clock=cli.clock,
        channels={"newsroom": channel},
        owner="daemon:test",
        rng=random.Random(1),
    )
    assert engine.tick().sent == 1
    store.close()
    after = json.loads(cli("bob", "post", "show", str(post["id"]), "--format", "json").stdout)
    return channel.sent[0], {"before": post, "after": after}


def test_each_delivery_tags_its_links_and_the_approval_stands(cli, initialised, config_file):
    cli(
        "carol",
        "campaign",
        "add",
        "stop-it-now",
        "--name",
        "S",
        "--link-domain",
        "stopitnow.org.uk",
    )
    message, post = send_one(cli, config_file)
    assert message.link == tag(
        LINK, {"utm_source": "mastodon", "utm_medium": "social", "utm_campaign": "stop-it-now"}
    )
    assert "faq?utm_source=mastodon&utm_medium=social&utm_campaign=stop-it-now" in message.text
    # The approved text is untouched: no re-approval, and the hash is the same.
    assert post["after"]["content_hash"] == post["before"]["content_hash"]
    assert post["after"]["link"] == LINK
    assert post["after"]["state"] == "published"


def test_campaign_overrides_and_opt_outs(cli, initialised, config_file):
    cli(
        "carol",
        "campaign",
        "add",
        "stop-it-now",
        "--name",
        "S",
        "--utm-campaign",
        "winter-2026",
        "--utm-medium",
        "organic",
    )
    message, _ = send_one(cli, config_file)
    assert message.link.endswith("utm_medium=organic&utm_campaign=winter-2026#chat")
    untagged, _ = send_one(cli, config_file, "--no-utm")
    assert untagged.link == LINK
    assert "utm_" not in untagged.text


def test_campaign_without_utm(cli, initialised, config_file):
    cli("carol", "campaign", "add", "stop-it-now", "--name", "S", "--no-utm")
    message, _ = send_one(cli, config_file)
    assert message.link == LINK
