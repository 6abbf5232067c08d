"""Lookups prove only what happened after the claim (DESIGN §9.3, §9.4).

A weekly post repeats its text: last week's copy must never be taken for this week's send
(that would record ``sent`` for a post that never went out). Mastodon and Slack run against
their fakes on a frozen clock; Bluesky against the real PDS, where we choose ``createdAt``
and the record carries our key. Mastodon's prepared media ids identify our status outright.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from channels.base import Media, Message
from channels.registry import build
from scheduler.clock import FrozenClock
from tests.fakes.mastodon import FakeMastodon
from tests.fakes.slack import FakeSlack
from tests.peers import BlueskyPds

ENV = "SIGNPOST_TEST_CHANNEL_SECRET"
TEXT = "Weekly reminder: confidential help on 0808 1000 900"
LAST_WEEK = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
THIS_WEEK = LAST_WEEK + timedelta(days=7)
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)
_accounts = itertools.count()


def weekly(week: datetime, key: str) -> Message:
    """This week's occurrence: the same text, its own key, claimed at ``week``."""
    return Message(text=TEXT, idempotency_key=key, not_before=week - timedelta(minutes=2))


def make(kind: str, options: dict, client: httpx.Client, now=lambda: datetime.now(UTC)):
    return build(kind, kind, {**options, "token_env": ENV}, client=client, now=now)


@pytest.fixture
def client():
    with httpx.Client(timeout=5) as client:
        yield client


def test_mastodon_last_weeks_copy_is_not_this_weeks_send(client, monkeypatch):
    clock = FrozenClock(LAST_WEEK)
    with FakeMastodon(clock=clock) as fake:
        monkeypatch.setenv(ENV, fake.token)
        channel = make("mastodon", {"url": fake.url}, client)
        channel.publish(weekly(LAST_WEEK, "sp-week-1"))
        clock.advance(timedelta(days=7))
        this_week = weekly(THIS_WEEK, "sp-week-2")
        assert channel.lookup(this_week) is None  # the send was lost: not recorded as sent
        receipt = channel.publish(this_week)
        assert channel.lookup(this_week) == receipt
        assert receipt.remote_id == fake.statuses[-1]["id"]


def test_mastodon_prepared_media_identify_the_status(client, monkeypatch, tmp_path: Path):
    image = tmp_path / "card.png"
    image.write_bytes(PNG)
    media = (Media(str(image), hashlib.sha256(PNG).hexdigest(), "Helpline card"),)
    with FakeMastodon() as fake:
        monkeypatch.setenv(ENV, fake.token)
        channel = make("mastodon", {"url": fake.url}, client)
        other = channel.publish(Message(text=TEXT, idempotency_key="sp-m-0", media=media))
        message = Message(text=TEXT, idempotency_key="sp-m-1", media=media)
        prepared = channel.prepare(message)
        assert prepared and len(fake.media) == 2 and len(fake.statuses) == 1
        ours = replace(message, prepared=prepared)
        assert channel.lookup(ours) is None  # same text, other media: not ours
        receipt = channel.publish(ours)
        assert len(fake.media) == 2  # nothing uploaded again
        [status] = [s for s in fake.statuses if s["id"] == receipt.remote_id]
        assert [m["id"] for m in status["media_attachments"]] == prepared.split(",")
        assert status["media_attachments"][0]["description"] == "Helpline card"
        # Found by its media, even with a claim time the server's clock disagrees with.
        late = replace(ours, not_before=datetime.now(UTC) + timedelta(days=1))
        assert channel.lookup(late) == receipt != other


def test_slack_last_weeks_copy_is_not_this_weeks_send(client, monkeypatch):
    clock = FrozenClock(LAST_WEEK)
    with FakeSlack(clock=clock) as fake:
        monkeypatch.setenv(ENV, fake.token)
        channel = make("slack", {"url": fake.api_url, "channel": "C0123456789"}, client)
        channel.publish(weekly(LAST_WEEK, "sp-week-1"))
        clock.advance(timedelta(days=7))
        this_week = weekly(THIS_WEEK, "sp-week-2")
        assert channel.lookup(this_week) is None
        receipt = channel.publish(this_week)
        assert channel.lookup(this_week).remote_id == receipt.remote_id


def by_hand(pds: BlueskyPds, account: dict, created: datetime) -> str:
    """A post of the same text without our marker (made by hand, or before markers)."""
    record = {
        "$type": "app.bsky.feed.post",
        "text": TEXT,
        "createdAt": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    response = httpx.post(
        pds.xrpc("com.atproto.repo.createRecord"),
        headers={"Authorization": f"Bearer {account['accessJwt']}"},
        json={"repo": account["did"], "collection": "app.bsky.feed.post", "record": record},
    )
    response.raise_for_status()
    return response.json()["uri"]


def test_bluesky_last_weeks_copy_is_not_this_weeks_send(
    bluesky_pds: BlueskyPds, client, monkeypatch
):
    account = bluesky_pds.create_account(f"weekly{next(_accounts)}.test", "app-password")
    monkeypatch.setenv(ENV, "app-password")
    options = {"url": bluesky_pds.url, "handle": account["handle"]}
    now = [LAST_WEEK]
    channel = make("bluesky", options, client, now=lambda: now[0])
    first = channel.publish(weekly(LAST_WEEK, "sp-week-1"))
    record = bluesky_pds.get_record(first.remote_id)["value"]
    assert record["org.signpost.key"] == "sp-week-1"  # the PDS keeps our marker
    by_hand(bluesky_pds, account, LAST_WEEK + timedelta(hours=1))
    now[0] = THIS_WEEK
    this_week = weekly(THIS_WEEK, "sp-week-2")
    assert channel.lookup(this_week) is None  # neither last week's marked nor unmarked copy
    assert channel.lookup(replace(this_week, idempotency_key="sp-week-1")) == first  # marker
    receipt = channel.publish(this_week)
    assert channel.lookup(this_week) == receipt
    # An unmarked copy made after the claim is taken for ours (text + createdAt).
    uri = by_hand(bluesky_pds, account, THIS_WEEK)
    assert channel.lookup(replace(this_week, idempotency_key="sp-week-3")).remote_id == uri


# --- far enough back: a page of newer posts is no proof of absence -----------------------


@pytest.fixture
def small_pages(monkeypatch):
    """Two posts a page, so a few posts stand for a busy account without posting hundreds."""
    import channels.bluesky
    import channels.mastodon
    import channels.slack

    monkeypatch.setattr(channels.mastodon, "STATUSES_PAGE", 2)
    monkeypatch.setattr(channels.slack, "HISTORY_PAGE", 2)
    monkeypatch.setattr(channels.bluesky, "RECORDS_PAGE", 2)


@pytest.fixture(params=["mastodon", "slack", "bluesky"])
def account(request, client, monkeypatch, small_pages):
    """(channel, clock) on a fake or, for Bluesky, the real PDS; the clock at THIS_WEEK."""
    clock = FrozenClock(LAST_WEEK)
    if request.param == "bluesky":
        pds: BlueskyPds = request.getfixturevalue("bluesky_pds")
        made = pds.create_account(f"busy{next(_accounts)}.test", "app-password")
        monkeypatch.setenv(ENV, "app-password")
        options = {"url": pds.url, "handle": made["handle"]}
        yield make("bluesky", options, client, now=clock.now), clock
        return
    fake = (FakeMastodon if request.param == "mastodon" else FakeSlack)(clock=clock)
    with fake:
        monkeypatch.setenv(ENV, fake.token)
        options = {"url": fake.url if request.param == "mastodon" else fake.api_url}
        if request.param == "slack":
            options["channel"] = "C0123456789"
        yield make(request.param, options, client), clock


def busy(channel, clock: FrozenClock, count: int) -> None:
    """``count`` other posts, a second apart, as another tool or a burst would make."""
    for n in range(count):
        clock.advance(timedelta(seconds=1))
        channel.publish(Message(text=f"Other news {n}", idempotency_key=f"sp-other-{n}"))


def test_a_lookup_reads_back_page_by_page_to_the_claim(account):
    channel, clock = account
    busy(channel, clock, 3)  # last week's posts: older than the claim
    clock.advance(timedelta(days=7))
    ours = weekly(clock.now(), "sp-ours")
    receipt = channel.publish(ours)
    busy(channel, clock, 7)  # ours is now on the fourth page of two
    assert channel.lookup(ours).remote_id == receipt.remote_id
    lost = weekly(clock.now() - timedelta(seconds=20), "sp-lost")  # claimed, never posted
    assert channel.lookup(replace(lost, text="A send that never arrived")) is None


def test_a_lookup_that_cannot_reach_the_claim_gives_the_question_to_a_person(account):
    from channels.base import OutcomeUnknown
    from channels.lookups import PAGES

    channel, clock = account
    clock.advance(timedelta(days=7))
    claimed = weekly(clock.now(), "sp-lost")
    busy(channel, clock, 2 * PAGES + 1)  # more since the claim than ten pages hold
    with pytest.raises(OutcomeUnknown, match="more posts since the send began than a lookup"):
        channel.lookup(replace(claimed, text="A send that never arrived"))
