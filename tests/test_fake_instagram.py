"""The Instagram fake itself, driven with raw httpx as channels.md sections 14, 8 and 15 say.

If these pass, an adapter test against :class:`FakeInstagram` runs against the documented
two-step publish (image container, then ``media_publish``), the container ``status_code``
values, the caption limits, the publishing quota and the Graph error shapes of section 8,
not against whatever the adapter's author assumed.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from scheduler.clock import FrozenClock
from tests.fakes.instagram import FakeInstagram
from tests.test_fake_threads import png

START = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
USER = "17841405822304914"


def jpeg() -> bytes:
    """A tiny 8x8 grey baseline JPEG, built by hand (one-symbol Huffman tables, one block)."""

    def segment(marker: int, payload: bytes) -> bytes:
        return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload

    one_symbol = bytes([1] + [0] * 15) + b"\x00"  # a single code of length 1, symbol 0
    return b"".join(
        [
            b"\xff\xd8",  # SOI
            segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
            segment(0xDB, b"\x00" + b"\x01" * 64),
            segment(0xC0, struct.pack(">BHHB", 8, 8, 8, 1) + b"\x01\x11\x00"),
            segment(0xC4, b"\x00" + one_symbol),  # DC table 0
            segment(0xC4, b"\x10" + one_symbol),  # AC table 0
            segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"),
            b"\x3f",  # DC difference 0, end of block, padded with ones
            b"\xff\xd9",  # EOI
        ]
    )


JPEG = jpeg()


class ImageHost:
    """A loopback web server standing in for the public host Meta fetches ``image_url`` from."""

    FILES = {  # noqa: RUF012 - read-only table
        "/photo.jpg": (200, "image/jpeg", JPEG),
        "/photo.png": (200, "image/png", png()),
        "/mislabelled.jpg": (200, "image/jpeg", png()),
        "/truncated.jpg": (200, "image/jpeg", JPEG[:-2]),
        "/page.html": (200, "text/html; charset=utf-8", b"<html>hi</html>"),
    }

    def __init__(self) -> None:
        self.hits: list[str] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host.hits.append(self.path)
                status, content_type, body = host.FILES.get(
                    self.path, (404, "text/plain", b"not found")
                )
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> ImageHost:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def ig(clock: FrozenClock) -> Iterator[FakeInstagram]:
    with FakeInstagram(clock=clock) as fake:
        yield fake


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def images() -> Iterator[ImageHost]:
    with ImageHost() as host:
        yield host


def auth(fake: FakeInstagram, token: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token or fake.token}"}


def create(
    fake: FakeInstagram, http: httpx.Client, *, form: bool = False, **params: Any
) -> httpx.Response:
    url = f"{fake.url}/v26.0/{USER}/media"
    if form:
        return http.post(url, data=params, headers=auth(fake))
    return http.post(url, params=params, headers=auth(fake))


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
    url = f"{fake.url}/v26.0/{USER}/media_publish"
    if form:
        return http.post(url, data={"creation_id": container}, headers=auth(fake))
    return http.post(url, params={"creation_id": container}, headers=auth(fake))


def graph_error(response: httpx.Response, code: int, status: int = 400) -> dict[str, Any]:
    """The §8 error body, checked for shape; returns its ``error`` object."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str) and error["type"]
    assert isinstance(error["fbtrace_id"], str) and error["fbtrace_id"]
    assert set(error) <= {"message", "type", "code", "error_subcode", "fbtrace_id"}
    return error


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

    assert graph_error(text_only, 100)["message"] == "The parameter image_url is required"
    graph_error(empty, 100)
    assert ig.containers == {}


def test_only_single_images(ig: FakeInstagram, http: httpx.Client, images: ImageHost) -> None:
    story = create(ig, http, image_url=f"{images.url}/photo.jpg", media_type="STORIES")
    image = create(ig, http, image_url=f"{images.url}/photo.jpg", media_type="IMAGE")

    graph_error(story, 100)
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
    assert "2200" in graph_error(over, 100)["message"]
    assert "30 hashtags" in graph_error(tags_31, 100)["message"]
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
    graph_error(publish(ig, http, container), 9007)
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
    graph_error(http.get(f"{ig.api_url}/{container}", params={"fields": "status_cod"}), 190)
    bad = http.get(f"{ig.api_url}/{container}", params={"fields": "bogus"}, headers=auth(ig))
    graph_error(bad, 100)


def test_in_progress_until_processing_polls_reads(
    clock: FrozenClock, http: httpx.Client, images: ImageHost
) -> None:
    with FakeInstagram(clock=clock, processing_polls=2) as fake:
        container = container_id(fake, http, image_url=f"{images.url}/photo.jpg")
        refused = publish(fake, http, container)  # publishing is not a status read

        reads = [status(fake, http, container)["status_code"] for _ in range(3)]

        error = graph_error(refused, 9007)
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
    assert "already been published" in graph_error(second, 9007)["message"]
    assert len(ig.posts) == 1
    assert status(ig, http, container)["status_code"] == "PUBLISHED"


def test_publish_needs_a_known_creation_id(ig: FakeInstagram, http: httpx.Client) -> None:
    missing = http.post(f"{ig.api_url}/{USER}/media_publish", headers=auth(ig))
    unknown = publish(ig, http, "1790000000000099")

    graph_error(missing, 100)
    graph_error(unknown, 100)
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
    graph_error(publish(ig, http, container), 9007)
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
    graph_error(publish(ig, http, expired), 9007)
    graph_error(publish(ig, http, stale), 9007)
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
    graph_error(bad_field, 100)
    error = graph_error(unknown, 100)
    assert (error["error_subcode"], error["type"]) == (33, "GraphMethodException")


def test_user_for_a_credentials_check(ig: FakeInstagram, http: httpx.Client) -> None:
    me = http.get(f"{ig.api_url}/{USER}", params={"fields": "id,username"}, headers=auth(ig))
    other = http.post(f"{ig.api_url}/17841400000000000/media", headers=auth(ig))
    nowhere = http.get(f"{ig.api_url}/{USER}/nothing", headers=auth(ig))

    assert me.status_code == 200
    assert me.json() == {"id": USER, "username": "stopitnow"}
    assert graph_error(other, 100)["error_subcode"] == 33
    graph_error(nowhere, 2500)


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
        error = graph_error(response, 190)  # HTTP 400, as graph.facebook.com answers
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

    graph_error(response, 100)
    assert ig.tokens_in_urls == 1
    assert ig.containers == {} and images.hits == []
    assert ig.requests[0].query["access_token"] == ig.token


def test_other_graph_versions_are_refused(
    clock: FrozenClock, ig: FakeInstagram, http: httpx.Client
) -> None:
    old = http.get(f"{ig.url}/v25.0/{USER}", params={"fields": "id"}, headers=auth(ig))
    bare = http.get(f"{ig.url}/{USER}", params={"fields": "id"}, headers=auth(ig))

    assert "v26.0" in graph_error(old, 2635)["message"]
    graph_error(bare, 2635)
    with FakeInstagram(clock=clock, version="v25.0") as fake:
        assert fake.api_url == f"{fake.url}/v25.0"
        assert http.get(f"{fake.api_url}/{USER}", headers=auth(fake)).json() == {"id": USER}
        graph_error(http.get(f"{fake.url}/v26.0/{USER}", headers=auth(fake)), 2635)


# --- limits ---------------------------------------------------------------------------


def test_rate_limit_error_shape(ig: FakeInstagram, http: httpx.Client, images: ImageHost) -> None:
    url = f"{images.url}/photo.jpg"
    ig.rate_limit(times=2)

    first = create(ig, http, image_url=url)
    second = create(ig, http, image_url=url)
    after = create(ig, http, image_url=url)

    for response in (first, second):
        error = graph_error(response, 4)
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
    assert graph_error(refused, 9)["error_subcode"] == 2207042
    assert len(ig.posts) == 3
    assert status(ig, http, refused_container)["status_code"] == "FINISHED"

    clock.advance(timedelta(hours=24))
    assert limit()["data"][0]["quota_usage"] == 0
    fresh = container_id(ig, http, image_url=url, caption="next day")
    assert publish(ig, http, fresh).status_code == 200
