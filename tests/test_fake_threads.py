# ruff: noqa: F811  (the fixtures clock, http and images, imported below)
"""The Threads fake itself, driven with raw httpx exactly as channels.md section 13 describes.

If these pass, an adapter test against :class:`FakeThreads` runs against the documented
two-step publish (container, then ``threads_publish``), its container statuses and the
Graph error shapes of section 8, not against whatever the adapter's author assumed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from scheduler.clock import FrozenClock
from tests.fakes.imagehost import PNG, ImageHost, images, png  # noqa: F401  (fixture, re-export)
from tests.fakes.selftest import auth, clock, graph_error, graph_post, http  # noqa: F401  (fixtures)
from tests.fakes.threads import FakeThreads

USER = "17841400000000001"


@pytest.fixture
def threads(clock: FrozenClock) -> Iterator[FakeThreads]:
    with FakeThreads(clock=clock) as fake:
        yield fake


def create(
    fake: FakeThreads, http: httpx.Client, *, form: bool = False, **params: Any
) -> httpx.Response:
    return graph_post(fake, http, f"{USER}/threads", form=form, **params)


def container_id(fake: FakeThreads, http: httpx.Client, **params: Any) -> str:
    response = create(fake, http, **params)
    assert response.status_code == 200, response.text
    return response.json()["id"]


def status(fake: FakeThreads, http: httpx.Client, container: str) -> dict[str, Any]:
    response = http.get(
        f"{fake.url}/v1.0/{container}",
        params={"fields": "status,error_message"},
        headers=auth(fake),
    )
    assert response.status_code == 200, response.text
    return response.json()


def publish(fake: FakeThreads, http: httpx.Client, container: str) -> httpx.Response:
    return graph_post(fake, http, f"{USER}/threads_publish", creation_id=container)


# --- publishing -----------------------------------------------------------------------


@pytest.mark.parametrize("form", [False, True], ids=["query", "form-body"])
def test_text_post_in_two_steps(threads: FakeThreads, http: httpx.Client, form: bool) -> None:
    created = create(threads, http, form=form, media_type="TEXT", text="Help: 0808 1000 900")
    assert created.status_code == 200
    container = created.json()["id"]
    assert set(created.json()) == {"id"}
    assert status(threads, http, container) == {"id": container, "status": "FINISHED"}
    assert threads.posts == []

    published = publish(threads, http, container)

    assert published.status_code == 200
    media_id = published.json()["id"]
    assert media_id != container
    assert status(threads, http, container) == {"id": container, "status": "PUBLISHED"}
    (post,) = threads.posts
    assert post["id"] == media_id
    assert (post["text"], post["media_type"], post["container"]) == (
        "Help: 0808 1000 900",
        "TEXT",
        container,
    )
    assert (post["image_url"], post["alt_text"]) == (None, None)
    assert post["timestamp"] == "2026-01-31T12:00:00+0000"
    assert post["permalink"].startswith("https://www.threads.net/@stopitnow/post/")


def test_creation_id_may_come_in_the_form_body(threads: FakeThreads, http: httpx.Client) -> None:
    container = container_id(threads, http, media_type="TEXT", text="hi")
    response = http.post(
        f"{threads.url}/v1.0/me/threads_publish",
        data={"creation_id": container},
        headers=auth(threads),
    )
    assert response.status_code == 200
    assert len(threads.posts) == 1


def test_image_post_really_fetches_the_image(
    threads: FakeThreads, http: httpx.Client, images: ImageHost
) -> None:
    image_url = f"{images.url}/photo.png"
    container = container_id(
        threads, http, media_type="IMAGE", image_url=image_url, text="Look", alt_text="A sign"
    )

    assert images.hits == ["/photo.png"]
    assert threads.containers[container].image == PNG
    assert status(threads, http, container)["status"] == "FINISHED"
    assert publish(threads, http, container).status_code == 200
    (post,) = threads.posts
    assert (post["media_type"], post["image_url"], post["alt_text"], post["text"]) == (
        "IMAGE",
        image_url,
        "A sign",
        "Look",
    )


@pytest.mark.parametrize("path", ["/missing.png", "/page.html", None], ids=["404", "html", "down"])
def test_image_fetch_failure_makes_an_error_container(
    threads: FakeThreads, http: httpx.Client, images: ImageHost, path: str | None
) -> None:
    # None: a port where nothing listens (the image host's, once it is closed).
    with ImageHost() as gone:
        dead = gone.url
    image_url = f"{images.url}{path}" if path else f"{dead}/photo.png"
    container = container_id(threads, http, media_type="IMAGE", image_url=image_url)

    assert status(threads, http, container) == {
        "id": container,
        "status": "ERROR",
        "error_message": "UNKNOWN",
    }
    assert threads.containers[container].failure
    graph_error(publish(threads, http, container), 400, 24)
    assert threads.posts == []


def test_image_needs_an_image_url_and_types_are_checked(
    threads: FakeThreads, http: httpx.Client
) -> None:
    graph_error(create(threads, http, media_type="IMAGE", text="no picture"), 400, 100)
    graph_error(create(threads, http, media_type="TEXT"), 400, 100)
    graph_error(create(threads, http, media_type="VIDEO", text="x"), 400, 100)
    graph_error(create(threads, http, text="no type"), 400, 100)
    assert threads.containers == {}


def test_in_progress_until_processing_polls_reads(clock: FrozenClock, http: httpx.Client) -> None:
    with FakeThreads(clock=clock, processing_polls=2) as fake:
        container = container_id(fake, http, media_type="TEXT", text="slow")
        refused = publish(fake, http, container)  # publishing is not a status read

        reads = [status(fake, http, container)["status"] for _ in range(3)]

        error = graph_error(refused, 400, 24)
        assert error["error_subcode"] == 4279009
        assert reads == ["IN_PROGRESS", "IN_PROGRESS", "FINISHED"]
        assert publish(fake, http, container).status_code == 200
        assert len(fake.posts) == 1


def test_publishing_twice_never_makes_two_posts(threads: FakeThreads, http: httpx.Client) -> None:
    container = container_id(threads, http, media_type="TEXT", text="once")
    first = publish(threads, http, container)
    second = publish(threads, http, container)

    assert first.status_code == 200
    assert "already been published" in graph_error(second, 400, 24)["message"]
    assert len(threads.posts) == 1
    assert status(threads, http, container)["status"] == "PUBLISHED"


def test_a_lost_publish_answer_leaves_the_container_published(
    threads: FakeThreads, http: httpx.Client
) -> None:
    container = container_id(threads, http, media_type="TEXT", text="lost answer")
    threads.drop_next(processed=True)

    with pytest.raises(httpx.RemoteProtocolError):
        publish(threads, http, container)

    # The reconciliation handle (§13): PUBLISHED says the publish landed; a retry is refused.
    assert status(threads, http, container)["status"] == "PUBLISHED"
    assert len(threads.posts) == 1
    assert threads.containers[container].media_id == threads.posts[0]["id"]
    graph_error(publish(threads, http, container), 400, 24)
    assert len(threads.posts) == 1


def test_generic_scripting_still_works(threads: FakeThreads, http: httpx.Client) -> None:
    threads.fail_next(500, {"error": {"message": "boom", "code": 1}})
    failed = create(threads, http, media_type="TEXT", text="x")
    threads.garble_next()
    garbled = create(threads, http, media_type="TEXT", text="garbled")

    assert failed.status_code == 500
    assert garbled.status_code == 200 and garbled.text.startswith("<html>")
    assert [c.text for c in threads.containers.values()] == ["garbled"]  # handled, answer lost
    assert len(threads.requests) == 2


def test_expired_container_is_refused(
    threads: FakeThreads, http: httpx.Client, clock: FrozenClock
) -> None:
    expired = container_id(threads, http, media_type="TEXT", text="late")
    threads.expire_container(expired)
    stale = container_id(threads, http, media_type="TEXT", text="stale")
    clock.advance(timedelta(hours=24))

    assert status(threads, http, expired)["status"] == "EXPIRED"
    graph_error(publish(threads, http, expired), 400, 24)
    graph_error(publish(threads, http, stale), 400, 24)
    assert status(threads, http, stale)["status"] == "EXPIRED"
    assert threads.posts == []


def test_permalink_lookup(threads: FakeThreads, http: httpx.Client) -> None:
    container = container_id(threads, http, media_type="TEXT", text="find me")
    media_id = publish(threads, http, container).json()["id"]
    url = f"{threads.url}/v1.0/{media_id}"

    permalink = http.get(url, params={"fields": "permalink"}, headers=auth(threads))
    full = http.get(url, params={"fields": "id,text,timestamp,permalink"}, headers=auth(threads))
    bad_field = http.get(url, params={"fields": "permalink_url"}, headers=auth(threads))
    unknown = http.get(f"{threads.url}/v1.0/999", headers=auth(threads))

    link = threads.posts[0]["permalink"]
    assert permalink.json() == {"id": media_id, "permalink": link}
    assert full.json() == {
        "id": media_id,
        "text": "find me",
        "timestamp": "2026-01-31T12:00:00+0000",
        "permalink": link,
    }
    graph_error(bad_field, 400, 100)
    assert graph_error(unknown, 400, 100)["error_subcode"] == 33


def test_me_for_a_credentials_check(threads: FakeThreads, http: httpx.Client) -> None:
    me = http.get(f"{threads.url}/v1.0/me", params={"fields": "id,username"}, headers=auth(threads))
    nowhere = http.get(f"{threads.url}/v1.0/me/nothing", headers=auth(threads))

    assert me.json() == {"id": USER, "username": "stopitnow"}
    graph_error(nowhere, 400, 2500)


def test_500_character_limit(threads: FakeThreads, http: httpx.Client) -> None:
    at_limit = create(threads, http, media_type="TEXT", text="a" * 500)
    emoji = create(threads, http, media_type="TEXT", text="🙂" * 500)  # len, not bytes
    over = create(threads, http, media_type="TEXT", text="a" * 501)

    assert (at_limit.status_code, emoji.status_code) == (200, 200)
    assert graph_error(over, 400, 100)["type"] == "THApiException"
    assert len(threads.containers) == 2


# --- tokens ---------------------------------------------------------------------------


def test_bad_missing_and_expired_tokens_get_190(threads: FakeThreads, http: httpx.Client) -> None:
    url = f"{threads.url}/v1.0/me"
    missing = http.get(url)
    wrong = http.get(url, headers=auth(threads, "not-the-token"))
    threads.expire_token()
    expired = http.get(url, headers=auth(threads))
    refresh = http.get(
        f"{threads.url}/refresh_access_token",
        params={"grant_type": "th_refresh_token"},
        headers=auth(threads),
    )

    for response in (missing, wrong, expired, refresh):
        error = graph_error(response, 401, 190)
        assert error["type"] == "OAuthException"
        assert error["message"] == "Invalid OAuth access token - Cannot parse access token"
    assert threads.refreshes == 0


def test_token_refresh_rotates_and_the_old_token_is_refused(
    threads: FakeThreads, http: httpx.Client
) -> None:
    old = threads.token
    wrong_grant = http.get(
        f"{threads.url}/refresh_access_token",
        params={"grant_type": "refresh_token"},
        headers=auth(threads),
    )
    refreshed = http.get(
        f"{threads.url}/refresh_access_token",
        params={"grant_type": "th_refresh_token"},
        headers=auth(threads),
    )

    graph_error(wrong_grant, 400, 100)
    assert refreshed.status_code == 200
    body = refreshed.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 5184000
    assert body["access_token"] == threads.token != old
    assert threads.refreshes == 1
    graph_error(http.get(f"{threads.url}/v1.0/me", headers=auth(threads, old)), 401, 190)
    assert http.get(f"{threads.url}/v1.0/me", headers=auth(threads)).status_code == 200


def test_a_token_in_the_url_is_refused_and_counted(
    threads: FakeThreads, http: httpx.Client
) -> None:
    response = http.post(
        f"{threads.url}/v1.0/{USER}/threads",
        params={"media_type": "TEXT", "text": "x", "access_token": threads.token},
        headers=auth(threads),
    )

    graph_error(response, 400, 100)
    assert threads.tokens_in_urls == 1
    assert threads.containers == {}
    assert threads.requests[0].query["access_token"] == threads.token


# --- limits ---------------------------------------------------------------------------


def test_rate_limit_error_shape(threads: FakeThreads, http: httpx.Client) -> None:
    threads.rate_limit(times=2)

    first = create(threads, http, media_type="TEXT", text="x")
    second = create(threads, http, media_type="TEXT", text="x")
    after = create(threads, http, media_type="TEXT", text="x")

    for response in (first, second):
        error = graph_error(response, 400, 4)
        assert error["message"] == "Application request limit reached"
    assert after.status_code == 200
    assert len(threads.containers) == 1


def test_publishing_limit_250_per_24_hours(
    threads: FakeThreads, http: httpx.Client, clock: FrozenClock
) -> None:
    def limit() -> dict[str, Any]:
        response = http.get(
            f"{threads.url}/v1.0/{USER}/threads_publishing_limit",
            params={"fields": "quota_usage,config"},
            headers=auth(threads),
        )
        assert response.status_code == 200
        return response.json()

    assert limit() == {
        "data": [{"quota_usage": 0, "config": {"quota_total": 250, "quota_duration": 86400}}]
    }
    for n in range(250):
        container = container_id(threads, http, media_type="TEXT", text=f"post {n}")
        assert publish(threads, http, container).status_code == 200
    refused_container = container_id(threads, http, media_type="TEXT", text="one too many")
    refused = publish(threads, http, refused_container)

    assert limit()["data"][0]["quota_usage"] == 250
    graph_error(refused, 400, 4)
    assert len(threads.posts) == 250
    assert status(threads, http, refused_container)["status"] == "FINISHED"

    clock.advance(timedelta(hours=24))
    assert limit()["data"][0]["quota_usage"] == 0
    fresh = container_id(threads, http, media_type="TEXT", text="next day")
    assert publish(threads, http, fresh).status_code == 200
