# ruff: noqa: F811  (the fixtures clock, http and images, imported below)
"""The Facebook Page fake itself, driven with raw httpx as channels.md §8 and §15 describe.

If these pass, an adapter test against :class:`FakeFacebook` runs against the documented
photo upload, feed publish, duplicate refusals, the 500-with-the-post-made of §15, the page
feed for reconciliation and the Graph error shapes of §8, not against whatever the
adapter's author assumed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from scheduler.clock import FrozenClock
from tests.fakes.facebook import FakeFacebook
from tests.fakes.imagehost import JPEG, PNG, ImageHost, images  # noqa: F401  (fixture)
from tests.fakes.selftest import auth, graph_error, http  # noqa: F401  (fixture)
from tests.shared import clock  # noqa: F401  (fixture: the clock at 1 March 2026, noon)

PAGE = "104000000000001"
GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"


@pytest.fixture
def facebook(clock: FrozenClock) -> Iterator[FakeFacebook]:
    with FakeFacebook(clock=clock) as fake:
        yield fake


def publish(
    fake: FakeFacebook, http: httpx.Client, *, query: dict[str, str] | None = None, **form: str
) -> httpx.Response:
    return http.post(f"{fake.url}/v26.0/{PAGE}/feed", data=form, params=query, headers=auth(fake))


def upload(
    fake: FakeFacebook,
    http: httpx.Client,
    data: bytes = PNG,
    *,
    filename: str = "photo.png",
    **form: str,
) -> httpx.Response:
    form.setdefault("published", "false")
    return http.post(
        f"{fake.url}/v26.0/{PAGE}/photos",
        data=form,
        files={"source": (filename, data, "image/png")},
        headers=auth(fake),
    )


def photo_id(fake: FakeFacebook, http: httpx.Client, **form: Any) -> str:
    response = upload(fake, http, **form)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"id"}
    return response.json()["id"]


def read_feed(fake: FakeFacebook, http: httpx.Client, **params: Any) -> httpx.Response:
    params.setdefault("fields", "id,message,created_time,permalink_url")
    return http.get(f"{fake.url}/v26.0/{PAGE}/feed", params=params, headers=auth(fake))


# --- publishing -----------------------------------------------------------------------


@pytest.mark.parametrize("where", ["form", "query"])
def test_text_post_with_link_answers_the_permalink_when_asked(
    facebook: FakeFacebook, http: httpx.Client, where: str
) -> None:
    fields = {"fields": "id,permalink_url"}
    response = publish(
        facebook,
        http,
        query=fields if where == "query" else None,
        message="Help: 0808 1000 900",
        link="https://example.org/help",
        published="true",
        **(fields if where == "form" else {}),
    )

    assert response.status_code == 200, response.text
    (post,) = facebook.posts
    page_id, post_id = post["id"].split("_")
    assert page_id == PAGE and post_id.isdigit()
    assert response.json() == {
        "id": post["id"],
        "permalink_url": f"https://www.facebook.com/{PAGE}/posts/{post_id}",
    }
    assert post["permalink_url"] == response.json()["permalink_url"]
    assert (post["message"], post["link"], post["media_fbids"], post["alt_texts"]) == (
        "Help: 0808 1000 900",
        "https://example.org/help",
        [],
        [],
    )
    assert post["created_time"] == "2026-03-01T12:00:00+0000"


def test_without_fields_the_answer_is_the_id_alone(
    facebook: FakeFacebook, http: httpx.Client
) -> None:
    response = publish(facebook, http, message="plain")  # published omitted: true by default

    assert response.status_code == 200
    assert response.json() == {"id": facebook.posts[0]["id"]}


@pytest.mark.parametrize("style", ["indexed", "json-list"])
def test_photos_then_a_post_with_attached_media(
    facebook: FakeFacebook, http: httpx.Client, style: str
) -> None:
    first = photo_id(facebook, http, alt_text_custom="A helpline sign")
    second = photo_id(facebook, http, data=JPEG, filename="b.jpg")
    assert first != second
    assert facebook.photos[first].data == PNG
    assert facebook.photos[first].alt_text == "A helpline sign"
    assert facebook.photos[second].content_type == "image/jpeg"
    assert facebook.photos[second].alt_text is None
    media = [{"media_fbid": first}, {"media_fbid": second}]
    if style == "indexed":
        form = {f"attached_media[{n}]": json.dumps(item) for n, item in enumerate(media)}
    else:
        form = {"attached_media": json.dumps(media)}

    response = publish(facebook, http, message="With pictures", published="true", **form)

    assert response.status_code == 200, response.text
    (post,) = facebook.posts
    assert post["media_fbids"] == [first, second]
    assert post["alt_texts"] == ["A helpline sign", None]


def test_a_json_body_is_accepted_too(facebook: FakeFacebook, http: httpx.Client) -> None:
    photo = photo_id(facebook, http)
    response = http.post(
        f"{facebook.url}/v26.0/me/feed",
        json={"message": "json", "attached_media": [{"media_fbid": photo}], "fields": "id"},
        headers=auth(facebook),
    )

    assert response.status_code == 200, response.text
    assert facebook.posts[0]["media_fbids"] == [photo]


def test_attached_media_must_name_an_uploaded_photo(
    facebook: FakeFacebook, http: httpx.Client
) -> None:
    photo = photo_id(facebook, http)
    unknown = publish(facebook, http, message="x", attached_media='[{"media_fbid": "9"}]')
    not_json = publish(facebook, http, message="x", attached_media="media_fbid=1")
    not_a_list = publish(
        facebook, http, message="x", attached_media=json.dumps({"media_fbid": photo})
    )
    both = publish(
        facebook,
        http,
        message="x",
        attached_media=json.dumps([{"media_fbid": photo}]),
        **{"attached_media[0]": json.dumps({"media_fbid": photo})},
    )

    for response in (unknown, not_json, not_a_list, both):
        assert graph_error(response, 400, 100)["message"].startswith("(#100) ")
    assert facebook.posts == []


def test_what_a_post_must_be(facebook: FakeFacebook, http: httpx.Client) -> None:
    empty = publish(facebook, http, published="true")
    unpublished = publish(facebook, http, message="later", published="false")
    bad_field = publish(facebook, http, message="x", fields="id,url")
    too_long = publish(facebook, http, message="a" * 63207)
    at_limit = publish(facebook, http, message="🙂" * 63206)  # characters, not bytes
    link_only = publish(facebook, http, link="https://example.org/")

    for response in (empty, unpublished, bad_field, too_long):
        graph_error(response, 400, 100)
    assert (at_limit.status_code, link_only.status_code) == (200, 200)
    assert [p["message"] for p in facebook.posts] == ["🙂" * 63206, None]


def test_another_page_is_not_ours(facebook: FakeFacebook, http: httpx.Client) -> None:
    response = http.post(
        f"{facebook.url}/v26.0/999/feed", data={"message": "x"}, headers=auth(facebook)
    )

    error = graph_error(response, 400, 100)
    assert (error["error_subcode"], error["type"]) == (33, "GraphMethodException")
    assert facebook.posts == []


# --- photos ---------------------------------------------------------------------------


def test_photo_types_and_the_4_mb_limit(facebook: FakeFacebook, http: httpx.Client) -> None:
    just_under = PNG + b"\x00" * (4 * 1024 * 1024 - 1 - len(PNG))
    at_4_mb = just_under + b"\x00"

    gif = upload(facebook, http, GIF, filename="a.png")  # the name does not make it a PNG
    too_big = upload(facebook, http, at_4_mb)
    fits = upload(facebook, http, just_under)

    for response in (gif, too_big):
        error = graph_error(response, 400, 100, for_user=True)
        assert error["error_subcode"] == 1366046
        assert "4 MB" in error["error_user_msg"]
        assert error["error_user_title"]
    assert fits.status_code == 200
    assert list(facebook.photos) == [fits.json()["id"]]


def test_photos_must_be_unpublished_and_carry_a_file(
    facebook: FakeFacebook, http: httpx.Client
) -> None:
    published = upload(facebook, http, published="true")
    url = f"{facebook.url}/v26.0/{PAGE}/photos"
    nothing = http.post(url, data={"published": "false"}, headers=auth(facebook))
    both = upload(facebook, http, url="https://example.org/a.png")

    graph_error(published, 400, 100)
    graph_error(nothing, 400, 324)
    graph_error(both, 400, 100)
    assert facebook.photos == {}
    assert facebook.posts == []


def test_photo_by_url_is_really_fetched(
    facebook: FakeFacebook, http: httpx.Client, images: ImageHost
) -> None:
    url = f"{facebook.url}/v26.0/{PAGE}/photos"

    def by_url(path: str) -> httpx.Response:
        form = {"url": f"{images.url}{path}", "published": "false", "alt_text_custom": "Sign"}
        return http.post(url, data=form, headers=auth(facebook))

    fetched = by_url("/photo.png")
    missing = by_url("/missing.png")
    html = by_url("/page.html")

    assert fetched.status_code == 200, fetched.text
    photo = facebook.photos[fetched.json()["id"]]
    assert (photo.data, photo.alt_text, photo.url) == (PNG, "Sign", f"{images.url}/photo.png")
    graph_error(missing, 400, 324)
    assert "HTTP 404" in facebook.fetch_failures[0]
    assert graph_error(html, 400, 100, for_user=True)["error_subcode"] == 1366046
    assert images.hits == ["/photo.png", "/missing.png", "/page.html"]
    assert len(facebook.photos) == 1


# --- duplicates and unknown outcomes --------------------------------------------------


def test_a_consecutive_duplicate_is_refused_with_506(
    facebook: FakeFacebook, http: httpx.Client
) -> None:
    first = publish(facebook, http, message="Same words")
    again = publish(facebook, http, message="Same words", link="https://example.org/other")
    other = publish(facebook, http, message="Different words")
    not_consecutive = publish(facebook, http, message="Same words")

    assert first.status_code == 200
    error = graph_error(again, 400, 506)
    assert (error["message"], error["type"]) == (
        "(#506) Duplicate status message",
        "OAuthException",
    )
    assert (other.status_code, not_consecutive.status_code) == (200, 200)
    assert [p["message"] for p in facebook.posts] == ["Same words", "Different words", "Same words"]


def test_the_368_wording_of_a_duplicate(facebook: FakeFacebook, http: httpx.Client) -> None:
    facebook.duplicate_code = 368
    publish(facebook, http, message="Twice")

    error = graph_error(publish(facebook, http, message="Twice"), 400, 368)

    assert error["message"] == "(#368) You've already posted this"
    assert len(facebook.posts) == 1


def test_a_500_after_posting_then_a_blind_retry_is_a_duplicate(
    facebook: FakeFacebook, http: httpx.Client
) -> None:
    facebook.fail_after_posting()
    refused = publish(facebook, http, message="x", fields="id,bogus")  # a refusal does not spend it

    failed = publish(facebook, http, message="Made anyway")
    retried = publish(facebook, http, message="Made anyway")
    later = publish(facebook, http, message="Next one")

    graph_error(refused, 400, 100)
    error = graph_error(failed, 500, 1)
    assert error["message"] == "An unknown error occurred"
    graph_error(retried, 400, 506)
    assert later.status_code == 200
    assert [p["message"] for p in facebook.posts] == ["Made anyway", "Next one"]


def test_fail_after_posting_times(facebook: FakeFacebook, http: httpx.Client) -> None:
    facebook.fail_after_posting(times=2)
    statuses = [publish(facebook, http, message=f"post {n}").status_code for n in range(3)]

    assert statuses == [500, 500, 200]
    assert len(facebook.posts) == 3


def test_a_lost_answer_leaves_a_post_found_in_the_feed(
    facebook: FakeFacebook, http: httpx.Client
) -> None:
    facebook.drop_next(processed=True)

    with pytest.raises(httpx.RemoteProtocolError):
        publish(facebook, http, message="sp:42 lost answer")

    (post,) = facebook.posts
    feed = read_feed(facebook, http).json()["data"]
    assert [p["id"] for p in feed if "sp:42" in p["message"]] == [post["id"]]


def test_generic_scripting_still_works(facebook: FakeFacebook, http: httpx.Client) -> None:
    facebook.fail_next(503, "upstream down")
    failed = publish(facebook, http, message="first")
    facebook.garble_next()
    garbled = publish(facebook, http, message="garbled")
    facebook.drop_next()
    with pytest.raises(httpx.RemoteProtocolError):
        publish(facebook, http, message="dropped unprocessed")
    facebook.delay_next(0.5)
    with pytest.raises(httpx.ReadTimeout):
        http.post(
            f"{facebook.url}/v26.0/{PAGE}/feed",
            data={"message": "slow"},
            headers=auth(facebook),
            timeout=0.1,
        )

    assert (failed.status_code, failed.text) == (503, "upstream down")
    assert garbled.status_code == 200 and garbled.text.startswith("<html>")
    assert [p["message"] for p in facebook.posts] == ["garbled", "slow"]
    assert len(facebook.requests) == 4


# --- reading --------------------------------------------------------------------------


def test_feed_newest_first_with_cursor_paging(
    facebook: FakeFacebook, http: httpx.Client, clock: FrozenClock
) -> None:
    for n in range(30):
        assert publish(facebook, http, message=f"post {n}").status_code == 200
        clock.advance(timedelta(minutes=1))

    first = read_feed(facebook, http, limit=25).json()
    next_url = first["paging"]["next"]
    second = http.get(next_url, headers=auth(facebook)).json()
    by_cursor = read_feed(facebook, http, limit=25, after=first["paging"]["cursors"]["after"])

    assert [p["message"] for p in first["data"]] == [f"post {n}" for n in range(29, 4, -1)]
    assert first["data"][0] == {
        "id": facebook.posts[29]["id"],
        "message": "post 29",
        "created_time": "2026-03-01T12:29:00+0000",
        "permalink_url": facebook.posts[29]["permalink_url"],
    }
    assert "access_token" not in next_url
    assert next_url.startswith(f"{facebook.url}/v26.0/{PAGE}/feed?")
    assert [p["message"] for p in second["data"]] == [f"post {n}" for n in range(4, -1, -1)]
    assert "next" not in second["paging"]
    assert set(second["paging"]["cursors"]) == {"before", "after"}
    assert by_cursor.json() == second
    assert facebook.tokens_in_urls == 0


def test_feed_fields_since_and_empty(
    facebook: FakeFacebook, http: httpx.Client, clock: FrozenClock
) -> None:
    empty = read_feed(facebook, http)
    publish(facebook, http, message="old")
    cutoff = clock.advance(timedelta(hours=1))
    publish(facebook, http, message="new")
    clock.advance(timedelta(hours=1))

    since = read_feed(facebook, http, since=int(cutoff.timestamp()), fields="id,message")
    defaults = http.get(f"{facebook.url}/v26.0/{PAGE}/feed", headers=auth(facebook))

    assert empty.json() == {"data": []}
    assert since.json()["data"] == [{"id": facebook.posts[1]["id"], "message": "new"}]
    assert set(defaults.json()["data"][0]) == {"id", "message", "created_time"}
    assert len(defaults.json()["data"]) == 2


def test_feed_refuses_bad_parameters(facebook: FakeFacebook, http: httpx.Client) -> None:
    publish(facebook, http, message="one")
    for params in (
        {"after": "bm90LWEtcG9zdA"},
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "many"},
        {"since": "yesterday"},
        {"fields": "id,story"},
    ):
        graph_error(read_feed(facebook, http, **params), 400, 100)


def test_post_permalink_lookup(facebook: FakeFacebook, http: httpx.Client) -> None:
    post_id = publish(facebook, http, message="find me").json()["id"]
    url = f"{facebook.url}/v26.0/{post_id}"

    permalink = http.get(url, params={"fields": "permalink_url"}, headers=auth(facebook))
    defaults = http.get(url, headers=auth(facebook))
    unknown = http.get(f"{facebook.url}/v26.0/{PAGE}_999", headers=auth(facebook))

    assert permalink.json() == {"id": post_id, "permalink_url": facebook.posts[0]["permalink_url"]}
    assert defaults.json() == {
        "id": post_id,
        "message": "find me",
        "created_time": "2026-03-01T12:00:00+0000",
    }
    assert graph_error(unknown, 400, 100)["error_subcode"] == 33


def test_page_name_for_a_credentials_check(facebook: FakeFacebook, http: httpx.Client) -> None:
    name = http.get(
        f"{facebook.url}/v26.0/{PAGE}", params={"fields": "name"}, headers=auth(facebook)
    )
    me = http.get(f"{facebook.url}/v26.0/me", params={"fields": "id,name"}, headers=auth(facebook))
    bad = http.get(
        f"{facebook.url}/v26.0/{PAGE}", params={"fields": "email"}, headers=auth(facebook)
    )
    nowhere = http.get(f"{facebook.url}/v26.0/{PAGE}/nothing", headers=auth(facebook))

    assert name.json() == me.json() == {"id": PAGE, "name": "Stop It Now test page"}
    graph_error(bad, 400, 100)
    graph_error(nowhere, 400, 2500)


def test_the_version_is_configurable(clock: FrozenClock, http: httpx.Client) -> None:
    with FakeFacebook(clock=clock, version="v25.0", page_id="42", page_name="Other") as fake:
        assert fake.api_url == f"{fake.url}/v25.0"
        current = http.get(f"{fake.url}/v26.0/42", headers=auth(fake))
        older = http.get(f"{fake.url}/v25.0/42", headers=auth(fake))

        graph_error(current, 400, 2500)
        assert older.json() == {"id": "42", "name": "Other"}


# --- tokens and limits ----------------------------------------------------------------


def test_bad_and_missing_tokens_get_190(facebook: FakeFacebook, http: httpx.Client) -> None:
    url = f"{facebook.url}/v26.0/{PAGE}/feed"
    missing = http.post(url, data={"message": "x"})
    wrong = http.post(url, data={"message": "x"}, headers=auth(facebook, "not-the-token"))
    basic = http.post(
        url, data={"message": "x"}, headers={"Authorization": f"Basic {facebook.token}"}
    )

    for response in (missing, wrong, basic):
        error = graph_error(response, 400, 190)
        assert error["type"] == "OAuthException"
        assert error["message"] == "Invalid OAuth access token - Cannot parse access token"
        assert "error_subcode" not in error
        assert response.headers["WWW-Authenticate"].startswith('OAuth "Facebook Platform"')
    assert facebook.posts == []


def test_an_expired_token_gets_190_subcode_463(facebook: FakeFacebook, http: httpx.Client) -> None:
    assert http.get(f"{facebook.url}/v26.0/me", headers=auth(facebook)).status_code == 200
    facebook.expire_token()

    error = graph_error(http.get(f"{facebook.url}/v26.0/me", headers=auth(facebook)), 400, 190)

    assert error["error_subcode"] == 463
    assert error["type"] == "OAuthException"


def test_a_token_as_a_parameter_is_refused_and_counted(
    facebook: FakeFacebook, http: httpx.Client
) -> None:
    token = {"access_token": facebook.token}
    in_query = publish(facebook, http, query=token, message="query")
    in_form = publish(facebook, http, message="form", **token)
    in_multipart = upload(facebook, http, **token)
    facebook.fail_next(503)
    scripted = read_feed(facebook, http, **token)

    for response in (in_query, in_form, in_multipart):
        graph_error(response, 400, 100)
    assert scripted.status_code == 503
    assert facebook.tokens_in_urls == 4
    assert (facebook.posts, facebook.photos) == ([], {})


def test_rate_limit_error_and_usage_header(facebook: FakeFacebook, http: httpx.Client) -> None:
    facebook.rate_limit(times=2, regain_minutes=7)

    first = publish(facebook, http, message="x")
    second = read_feed(facebook, http)
    after = publish(facebook, http, message="x")

    for response in (first, second):
        error = graph_error(response, 400, 4)
        assert error["message"] == "Application request limit reached"
        usage = json.loads(response.headers["X-Business-Use-Case-Usage"])
        (entry,) = usage[PAGE]
        assert entry["type"] == "pages"
        assert entry["estimated_time_to_regain_access"] == 7
        assert {"call_count", "total_cputime", "total_time"} <= set(entry)
    assert after.status_code == 200
    assert len(facebook.posts) == 1
