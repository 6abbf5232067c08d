# ruff: noqa: F811  (the fixtures cli and clock, imported from tests.shared)
"""UTM tags on outgoing links: per delivery, never in the approved text."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from pathlib import Path

import pytest

from channels.base import Message
from channels.bluesky import link_facets
from channels.utm import tag, tag_text
from posts.rules import CampaignRules, Content, check
from posts.store import Store
from scheduler.clock import FrozenClock
from scheduler.config import DaemonSettings, load
from scheduler.delivery import Engine
from tests.conftest import HELPLINE, Signpost, add_post
from tests.shared import Recorder, approve, cli, clock, schedule  # noqa: F401

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


def send_one(
    cli: Signpost, clock: FrozenClock, config_file: Path, *schedule_args: str
) -> tuple[Message, dict]:
    post = add_post(
        cli, f"Help: {HELPLINE}. More: https://www.stopitnow.org.uk/faq", "--link", LINK
    )
    approve(cli, post["id"])
    schedule(cli, post["id"], "+1m", "newsroom", *schedule_args)
    clock.advance(timedelta(minutes=1))
    channel = Recorder("mastodon")
    store = Store(load(config_file).database_url)
    engine = Engine(
        store=store,
        settings=DaemonSettings(),
        clock=clock,
        channels={"newsroom": channel},
        owner="daemon:test",
        rng=random.Random(1),
    )
    assert engine.tick().sent == 1
    store.close()
    after = json.loads(cli("bob", "post", "show", str(post["id"]), "--format", "json").stdout)
    return channel.sent[0], {"before": post, "after": after}


def add_campaign(cli: Signpost, *options: str) -> None:
    """The stop-it-now campaign with the UTM and link options a test is about."""
    assert cli("carol", "campaign", "add", "stop-it-now", "--name", "S", *options).exit_code == 0


def test_each_delivery_tags_its_links_and_the_approval_stands(cli, clock, initialised, config_file):
    add_campaign(cli, "--link-domain", "stopitnow.org.uk")
    message, post = send_one(cli, clock, config_file)
    assert message.link == tag(
        LINK, {"utm_source": "mastodon", "utm_medium": "social", "utm_campaign": "stop-it-now"}
    )
    assert "faq?utm_source=mastodon&utm_medium=social&utm_campaign=stop-it-now" in message.text
    # The approved text is untouched: no re-approval, and the hash is the same.
    assert post["after"]["content_hash"] == post["before"]["content_hash"]
    assert post["after"]["link"] == LINK
    assert post["after"]["state"] == "published"


def test_campaign_overrides_and_opt_outs(cli, clock, initialised, config_file):
    add_campaign(cli, "--utm-campaign", "winter-2026", "--utm-medium", "organic")
    message, _ = send_one(cli, clock, config_file)
    assert message.link.endswith("utm_medium=organic&utm_campaign=winter-2026#chat")
    untagged, _ = send_one(cli, clock, config_file, "--no-utm")
    assert untagged.link == LINK
    assert "utm_" not in untagged.text


def test_campaign_without_utm(cli, clock, initialised, config_file):
    add_campaign(cli, "--no-utm")
    message, _ = send_one(cli, clock, config_file)
    assert message.link == LINK
