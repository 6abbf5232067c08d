# ruff: noqa: F811  (the fixtures clock, http and images, imported below)
"""The Instagram fake itself, driven with raw httpx as channels.md sections 14, 8 and 15 say.

If these pass, an adapter test against :class:`FakeInstagram` runs against the documented
two-step publish (image container, then ``media_publish``), the container ``status_code``
values, the caption limits, the publishing quota and the Graph error shapes of section 8,
not against whatever the adapter's author assumed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from scheduler.clock import FrozenClock
from tests.fakes.imagehost import JPEG, ImageHost, images  # noqa: F401  (fixture)
from tests.fakes.instagram import FakeInstagram
from tests.fakes.selftest import auth, clock, graph_error, graph_post, http  # noqa: F401  (fixtures)

USER = "17841405822304914"


@pytest.fixture
def ig(clock: FrozenClock) -> Iterator[FakeInstagram]:
    with FakeInstagram(clock=clock) as fake:
        yield fake


def create(
    fake: FakeInstagram, http: httpx.Client, *, form: bool = False, **params: Any
) -> httpx.Response:
    return graph_post(fake, http, f"{USER}/media", form=form, **params)


def container_id(fake: FakeInstagram, http: httpx.Client, **params: Any) -> str:
    response = create(fake, http, **params)
    assert response.status_code == 200, response.text
    return response.json()["id"]


def status(
    fake: FakeInstagram, http: httpx.Client, container: str, fields: str = "status_code"
) -> dict[str, Any]:
    response = http.get(
        f"{fake.url}/v26.0/{container}", params={"fields": fields}, headers=auth(fake)
    )
    assert response.status_code == 200, response.text
    return response.json()


def publish(
    fake: FakeInstagram, http: httpx.Client, container: str, *, form: bool = False
) -> httpx.Response:
    return graph_post(fake, http, f"{USER}/media_publish", form=form, creation_id=container)


# --- publishing -----------------------------------------------------------------------


@pytest.mark.parametrize("form", [False, True], ids=["query", "form-body"])
def test_image_post_in_two_steps(
    ig: FakeInstagram, http: httpx.Client, images: ImageHost, form: bool
) -> None:
    image_url = f"{images.url}/photo.jpg"
    created = create(
        ig, http, form=form, image_url=image_url, caption="Help: 0808 1000 900", alt_text="A sign"
    )
    assert created.status_code == 200, created.text
    assert set(created.json()) == {"id"}
    container = created.json()["id"]
    assert images.hits == ["/photo.jpg"]
    assert ig.containers[container].image == JPEG
    assert status(ig, http, container) == {"id": container, "status_code": "FINISHED"}
    assert ig.posts == []

    published = publish(ig, http, container, form=form)

    assert published.status_code == 200, published.text
    media_id = published.json()["id"]
    assert set(published.json()) == {"id"} and media_id != container
    assert status(ig, http, container) == {"id": container, "status_code": "PUBLISHED"}
    (post,) = ig.posts
    permalink = post.pop("permalink")
    assert post == {
        "id": media_id,
        "caption": "Help: 0808 1000 900",
        "image_url": image_url,
        "alt_text": "A sign",
        "timestamp": "2026-01-31T12:00:00+0000",
        "container": container,
    }
    assert permalink.startswith("https://www.instagram.com/p/") and permalink.endswith("/")
    assert len(permalink.split("/")) == 6 and permalink.split("/")[4]


def test_an_image_is_required(ig: FakeInstagram, http: httpx.Client) -> None:
    text_only = create(ig, http, caption="no picture")
    empty = create(ig, http, image_url="", caption="empty url")

    assert graph_error(text_only, 400, 100)["message"] == "The parameter image_url is required"
    graph_error(empty, 400, 100)
    assert ig.containers == {}


def test_only_single_images(ig: FakeInstagram, http: httpx.Client, images: ImageHost) -> None:
    story = create(ig, http, image_url=f"{images.url}/photo.jpg", media_type="STORIES")
    image = create(ig, http, image_url=f"{images.url}/photo.jpg", media_type="IMAGE")

    graph_error(story, 400, 100)
    assert image.status_code == 200
    assert len(ig.containers) == 1


def test_caption_limits(ig: FakeInstagram, http: httpx.Client, images: ImageHost) -> None:
    url = f"{images.url}/photo.jpg"
    at_limit = create(ig, http, form=True, image_url=url, caption="a" * 2200)
    emoji = create(ig, http, form=True, image_url=url, caption="🙂" * 2200)  # characters
    over = create(ig, http, form=True, image_url=url, caption="a" * 2201)
    tags_30 = create(ig, http, image_url=url, caption=" ".join(f"#tag{n}" for n in range(30)))
    tags_31 = create(ig, http, image_url=url, caption=" ".join(f"#tag{n}" for n in range(31)))

    assert (at_limit.status_code, emoji.status_code, tags_30.status_code) == (200, 200, 200)
    assert "2200" in graph_error(over, 400, 100)["message"]
    assert "30 hashtags" in graph_error(tags_31, 400, 100)["message"]
    assert len(ig.containers) == 3


@pytest.mark.parametrize(
    "path",
    ["/photo.png", "/mislabelled.jpg", "/truncated.jpg", "/page.html", "/missing.jpg", None],
    ids=["png", "png-as-jpeg", "truncated", "html", "404", "down"],
)
def test_unusable_image_makes_an_error_container(
    ig: FakeInstagram, http: httpx.Client, images: ImageHost, path: str | None
) -> None:
    # None: a port where nothing listens (an image host's, once it is closed).
    with ImageHost() as gone:
        dead = gone.url
    image_url = f"{images.url}{path}" if path else f"{dead}/photo.jpg"
    container = container_id(ig, http, image_url=image_url)

    node = status(ig, http, container, fields="status_code,status")
    assert node["status_code"] == "ERROR"
    assert node["status"].startswith("Error: ") and image_url in node["status"]
    assert ig.containers[container].failure
    assert ig.containers[container].image is None
    graph_error(publish(ig, http, container), 400, 9007)
    assert ig.posts == []


def test_status_field_describes_a_good_container(
    ig: FakeInstagram, http: httpx.Client, images: ImageHost
) -> None:
    container = container_id(ig, http, image_url=f"{images.url}/photo.jpg")

    node = status(ig, http, container, fields="status_code,status")

    assert set(node) == {"id", "status_code", "status"}
    assert node["status_code"] == "FINISHED" and node["status"].startswith("Finished")
    assert status(ig, http, container, fields="status") == {
        "id": container,
        "status": node["status"],
    }
    graph_error(http.get(f"{ig.api_url}/{container}", params={"fields": "status_cod"}), 400, 190)
    bad = http.get(f"{ig.api_url}/{container}", params={"fields": "bogus"}, headers=auth(ig))
    graph_error(bad, 400, 100)


def test_in_progress_until_processing_polls_reads(
    clock: FrozenClock, http: httpx.Client, images: ImageHost
) -> None:
    with FakeInstagram(clock=clock, processing_polls=2) as fake:
        container = container_id(fake, http, image_url=f"{images.url}/photo.jpg")
        refused = publish(fake, http, container)  # publishing is not a status read

        reads = [status(fake, http, container)["status_code"] for _ in range(3)]

        error = graph_error(refused, 400, 9007)
        assert (error["error_subcode"], error["message"]) == (2207027, "Media ID is not available")
        assert reads == ["IN_PROGRESS", "IN_PROGRESS", "FINISHED"]
        assert publish(fake, http, container).status_code == 200
        assert len(fake.posts) == 1


def test_a_failed_image_reports_error_only_after_processing(
    clock: FrozenClock, http: httpx.Client, images: ImageHost
) -> None:
    with FakeInstagram(clock=clock, processing_polls=1) as fake:
        container = container_id(fake, http, image_url=f"{images.url}/photo.png")

        reads = [status(fake, http, container)["status_code"] for _ in range(2)]

        assert reads == ["IN_PROGRESS", "ERROR"]


def test_publishing_twice_never_makes_two_posts(
    ig: FakeInstagram, http: httpx.Client, images: ImageHost
) -> None:
    container = container_id(ig, http, image_url=f"{images.url}/photo.jpg")
    first = publish(ig, http, container)
    second = publish(ig, http, container, form=True)

    assert first.status_code == 200
    assert "already been published" in graph_error(second, 400, 9007)["message"]
    assert len(ig.posts) == 1
    assert status(ig, http, container)["status_code"] == "PUBLISHED"


def test_publish_needs_a_known_creation_id(ig: FakeInstagram, http: httpx.Client) -> None:
    missing = http.post(f"{ig.api_url}/{USER}/media_publish", headers=auth(ig))
    unknown = publish(ig, http, "1790000000000099")

    graph_error(missing, 400, 100)
    graph_error(unknown, 400, 100)
    assert ig.posts == []


def test_a_lost_publish_answer_leaves_the_container_published(
    ig: FakeInstagram, http: httpx.Client, images: ImageHost
) -> None:
    container = container_id(ig, http, image_url=f"{images.url}/photo.jpg", caption="lost")
    ig.drop_next(processed=True)

    with pytest.raises(httpx.RemoteProtocolError):
        publish(ig, http, container)

    # The reconciliation handle (§14): PUBLISHED means live; never publish again.
    assert status(ig, http, container)["status_code"] == "PUBLISHED"
    assert len(ig.posts) == 1
    assert ig.containers[container].media_id == ig.posts[0]["id"]
    graph_error(publish(ig, http, container), 400, 9007)
    assert len(ig.posts) == 1


def test_generic_scripting_still_works(
    ig: FakeInstagram, http: httpx.Client, images: ImageHost
) -> None:
    url = f"{images.url}/photo.jpg"
    ig.fail_next(500, {"error": {"message": "boom", "code": 1}})
    failed = create(ig, http, image_url=url, caption="failed")
    ig.garble_next()
    garbled = create(ig, http, image_url=url, caption="garbled")
    ig.drop_next()
    with pytest.raises(httpx.RemoteProtocolError):
        create(ig, http, image_url=url, caption="dropped")
    ig.delay_next(0.5)
    with pytest.raises(httpx.ReadTimeout):
        http.post(
            f"{ig.api_url}/{USER}/media",
            params={"image_url": url, "caption": "slow"},
            headers=auth(ig),
            timeout=0.1,
        )

    assert failed.status_code == 500
    assert garbled.status_code == 200 and garbled.text.startswith("<html>")
    # garbled and slow were handled (their answers lost or late); failed and dropped were not.
    assert [c.caption for c in ig.containers.values()] == ["garbled", "slow"]
    assert len(ig.requests) == 4


def test_expired_containers_are_refused(
    ig: FakeInstagram, http: httpx.Client, clock: FrozenClock, images: ImageHost
) -> None:
    url = f"{images.url}/photo.jpg"
    expired = container_id(ig, http, image_url=url)
    ig.expire_container(expired)
    stale = container_id(ig, http, image_url=url)
    clock.advance(timedelta(hours=23, minutes=59))
    fresh = container_id(ig, http, image_url=url)
    assert status(ig, http, stale)["status_code"] == "FINISHED"
    clock.advance(timedelta(minutes=1))

    assert status(ig, http, expired)["status_code"] == "EXPIRED"
    graph_error(publish(ig, http, expired), 400, 9007)
    graph_error(publish(ig, http, stale), 400, 9007)
    assert status(ig, http, stale)["status_code"] == "EXPIRED"
    assert ig.posts == []
    assert publish(ig, http, fresh).status_code == 200


def test_permalink_lookup(ig: FakeInstagram, http: httpx.Client, images: ImageHost) -> None:
    container = container_id(ig, http, image_url=f"{images.url}/photo.jpg", caption="find me")
    media_id = publish(ig, http, container).json()["id"]
    url = f"{ig.api_url}/{media_id}"

    permalink = http.get(url, params={"fields": "permalink"}, headers=auth(ig))
    full = http.get(url, params={"fields": "caption,timestamp,media_type"}, headers=auth(ig))
    bad_field = http.get(url, params={"fields": "permalink_url"}, headers=auth(ig))
    unknown = http.get(f"{ig.api_url}/999", params={"fields": "permalink"}, headers=auth(ig))

    assert permalink.json() == {"id": media_id, "permalink": ig.posts[0]["permalink"]}
    assert full.json() == {
        "id": media_id,
        "caption": "find me",
        "timestamp": "2026-01-31T12:00:00+0000",
        "media_type": "IMAGE",
    }
    graph_error(bad_field, 400, 100)
    error = graph_error(unknown, 400, 100)
    assert (error["error_subcode"], error["type"]) == (33, "GraphMethodException")


def test_user_for_a_credentials_check(ig: FakeInstagram, http: httpx.Client) -> None:
    me = http.get(f"{ig.api_url}/{USER}", params={"fields": "id,username"}, headers=auth(ig))
    other = http.post(f"{ig.api_url}/17841400000000000/media", headers=auth(ig))
    nowhere = http.get(f"{ig.api_url}/{USER}/nothing", headers=auth(ig))

    assert me.status_code == 200
    assert me.json() == {"id": USER, "username": "stopitnow"}
    assert graph_error(other, 400, 100)["error_subcode"] == 33
    graph_error(nowhere, 400, 2500)


# --- tokens and versions --------------------------------------------------------------


def test_bad_missing_and_expired_tokens_get_190(ig: FakeInstagram, http: httpx.Client) -> None:
    url = f"{ig.api_url}/{USER}"
    missing = http.get(url)
    wrong = http.get(url, headers=auth(ig, "not-the-token"))
    not_bearer = http.get(url, headers={"Authorization": f"OAuth {ig.token}"})
    good = http.get(url, headers=auth(ig))
    ig.expire_token()
    expired = http.get(url, headers=auth(ig))

    assert good.status_code == 200
    for response in (missing, wrong, not_bearer, expired):
        error = graph_error(response, 400, 190)  # not 401: graph.facebook.com answers 400
        assert error["type"] == "OAuthException"
        assert 'OAuth "Facebook Platform" "invalid_token"' in response.headers["www-authenticate"]


def test_a_token_in_the_url_is_refused_and_counted(
    ig: FakeInstagram, http: httpx.Client, images: ImageHost
) -> None:
    response = http.post(
        f"{ig.api_url}/{USER}/media",
        params={"image_url": f"{images.url}/photo.jpg", "access_token": ig.token},
        headers=auth(ig),
    )

    graph_error(response, 400, 100)
    assert ig.tokens_in_urls == 1
    assert ig.containers == {} and images.hits == []
    assert ig.requests[0].query["access_token"] == ig.token


def test_other_graph_versions_are_refused(
    clock: FrozenClock, ig: FakeInstagram, http: httpx.Client
) -> None:
    old = http.get(f"{ig.url}/v25.0/{USER}", params={"fields": "id"}, headers=auth(ig))
    bare = http.get(f"{ig.url}/{USER}", params={"fields": "id"}, headers=auth(ig))

    assert "v26.0" in graph_error(old, 400, 2635)["message"]
    graph_error(bare, 400, 2635)
    with FakeInstagram(clock=clock, version="v25.0") as fake:
        assert fake.api_url == f"{fake.url}/v25.0"
        assert http.get(f"{fake.api_url}/{USER}", headers=auth(fake)).json() == {"id": USER}
        graph_error(http.get(f"{fake.url}/v26.0/{USER}", headers=auth(fake)), 400, 2635)


# --- limits ---------------------------------------------------------------------------


def test_rate_limit_error_shape(ig: FakeInstagram, http: httpx.Client, images: ImageHost) -> None:
    url = f"{images.url}/photo.jpg"
    ig.rate_limit(times=2)

    first = create(ig, http, image_url=url)
    second = create(ig, http, image_url=url)
    after = create(ig, http, image_url=url)

    for response in (first, second):
        error = graph_error(response, 400, 4)
        assert error["message"] == "Application request limit reached"
    assert after.status_code == 200
    assert len(ig.containers) == 1


def test_content_publishing_limit_per_24_hours(
    ig: FakeInstagram, http: httpx.Client, clock: FrozenClock, images: ImageHost
) -> None:
    url = f"{images.url}/photo.jpg"

    def limit() -> dict[str, Any]:
        response = http.get(
            f"{ig.api_url}/{USER}/content_publishing_limit",
            params={"fields": "quota_usage,config"},
            headers=auth(ig),
        )
        assert response.status_code == 200, response.text
        return response.json()

    assert limit() == {
        "data": [{"quota_usage": 0, "config": {"quota_total": 100, "quota_duration": 86400}}]
    }
    ig.quota_total = 3  # the same rule as 100, in fewer image fetches
    assert limit()["data"][0]["config"]["quota_total"] == 3
    for n in range(3):
        container = container_id(ig, http, image_url=url, caption=f"post {n}")
        assert publish(ig, http, container).status_code == 200
    refused_container = container_id(ig, http, image_url=url, caption="one too many")
    refused = publish(ig, http, refused_container)

    assert limit()["data"][0]["quota_usage"] == 3
    assert graph_error(refused, 400, 9)["error_subcode"] == 2207042
    assert len(ig.posts) == 3
    assert status(ig, http, refused_container)["status_code"] == "FINISHED"

    clock.advance(timedelta(hours=24))
    assert limit()["data"][0]["quota_usage"] == 0
    fresh = container_id(ig, http, image_url=url, caption="next day")
    assert publish(ig, http, fresh).status_code == 200
