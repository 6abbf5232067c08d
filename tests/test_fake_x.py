# ruff: noqa: F811  (the fixtures clock and http, imported below)
"""FakeX driven with raw httpx exactly as channels.md sections 7 and 15 describe X API v2.

If these pass, an X adapter test against :class:`FakeX` runs against the documented
behaviour of X (rotating refresh tokens, PKCE, the duplicate 403, weighted length, media,
the user timeline for reconciling, 429 headers), not against the adapter author's guess.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from scheduler.clock import FrozenClock
from tests.fakes.imagehost import PNG
from tests.fakes.selftest import (  # noqa: F401  (the fixtures clock and http)
    REDIRECT,
    START,
    VERIFIER,
    authorization,
    clock,
    code_of,
    http,
)
from tests.fakes.x import SCOPE, FakeX

UNAUTHORIZED = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}


@pytest.fixture
def x(clock: FrozenClock) -> Iterator[FakeX]:
    with FakeX(clock=clock) as fake:
        yield fake


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def tweet(x: FakeX, http: httpx.Client, token: str, **body: Any) -> httpx.Response:
    return http.post(f"{x.url}/2/tweets", json=body, headers=bearer(token))


def refresh(x: FakeX, http: httpx.Client, refresh_token: str, **kwargs: Any) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if "auth" not in kwargs:
        form["client_id"] = x.client_id
    return http.post(f"{x.url}/2/oauth2/token", data=form, **kwargs)


def upload(x: FakeX, http: httpx.Client, token: str, **kwargs: Any) -> httpx.Response:
    files = {"media": kwargs.pop("file", ("poster.png", PNG, "image/png"))}
    data = {"media_category": kwargs.pop("category", "tweet_image")}
    return http.post(f"{x.url}/2/media/upload", data=data, files=files, headers=bearer(token))


# --- OAuth 2 ---------------------------------------------------------------------------


def test_grant_gives_a_token_set_that_lasts_two_hours(
    x: FakeX, http: httpx.Client, clock: FrozenClock
) -> None:
    tokens = x.grant()

    assert set(tokens) == {"access_token", "refresh_token", "expires_at"}
    assert datetime.fromisoformat(tokens["expires_at"]) == START + timedelta(seconds=7200)
    me = http.get(f"{x.url}/2/users/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    assert me.json() == {"data": {"id": x.user_id, "name": x.name, "username": "stopitnow"}}

    clock.advance(timedelta(seconds=7200))
    late = http.get(f"{x.url}/2/users/me", headers=bearer(tokens["access_token"]))
    assert (late.status_code, late.json()) == (401, UNAUTHORIZED)


def test_refresh_rotates_and_an_old_refresh_token_is_refused(x: FakeX, http: httpx.Client) -> None:
    first = x.grant()

    answer = refresh(x, http, first["refresh_token"])

    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 7200
    assert body["scope"] == "tweet.read tweet.write users.read media.write offline.access"
    assert body["refresh_token"] != first["refresh_token"]
    assert body["access_token"] != first["access_token"]
    assert x.refreshes == 1
    old = http.get(f"{x.url}/2/users/me", headers=bearer(first["access_token"]))
    new = http.get(f"{x.url}/2/users/me", headers=bearer(body["access_token"]))
    assert (old.status_code, new.status_code) == (401, 200)

    reused = refresh(x, http, first["refresh_token"])

    assert reused.status_code == 400
    assert reused.json() == {
        "error": "invalid_request",
        "error_description": "Value passed for the token was invalid.",
    }
    assert (x.refreshes, x.reused_refresh_tokens) == (1, 1)
    assert refresh(x, http, body["refresh_token"]).status_code == 200
    assert x.client_auth == ["client_id"] * 3


def test_refresh_with_http_basic_client_auth(x: FakeX, http: httpx.Client) -> None:
    tokens = x.grant()

    wrong = refresh(x, http, tokens["refresh_token"], auth=(x.client_id, "not-the-secret"))
    right = refresh(x, http, tokens["refresh_token"], auth=(x.client_id, x.client_secret))

    assert wrong.status_code == 401
    assert right.status_code == 200
    assert x.client_auth == ["basic", "basic"]
    assert "authorization" in x.requests[-1].headers
    assert "client_id" not in x.requests[-1].form


def test_expire_access_token_answers_401_until_refreshed(x: FakeX, http: httpx.Client) -> None:
    tokens = x.grant()
    x.expire_access_token()

    expired = http.get(f"{x.url}/2/users/me", headers=bearer(tokens["access_token"]))
    missing = http.get(f"{x.url}/2/users/me")
    fresh = refresh(x, http, tokens["refresh_token"]).json()["access_token"]

    assert (expired.status_code, expired.json()) == (401, UNAUTHORIZED)
    assert (missing.status_code, missing.json()) == (401, UNAUTHORIZED)
    assert http.get(f"{x.url}/2/users/me", headers=bearer(fresh)).status_code == 200


def test_a_token_in_the_query_string_is_refused(x: FakeX, http: httpx.Client) -> None:
    token = x.grant()["access_token"]

    in_url = http.get(f"{x.url}/2/users/me", params={"access_token": token})
    both = http.get(f"{x.url}/2/users/me", params={"t": token}, headers=bearer(token))

    assert in_url.status_code == 400
    assert in_url.json()["type"] == "https://api.twitter.com/2/problems/invalid-request"
    assert both.status_code == 400


def authorize(x: FakeX, http: httpx.Client, scope: str = SCOPE, **overrides: str) -> httpx.Response:
    params = authorization(x.client_id, scope, **overrides)
    return http.get(f"{x.url}/i/oauth2/authorize", params=params)


def exchange(x: FakeX, http: httpx.Client, code: str, verifier: str) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        "client_id": x.client_id,
    }
    return http.post(f"{x.url}/2/oauth2/token", data=form)


def test_pkce_code_flow_issues_tokens_once(x: FakeX, http: httpx.Client) -> None:
    code = code_of(authorize(x, http))

    answer = exchange(x, http, code, VERIFIER)
    again = exchange(x, http, code, VERIFIER)

    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"token_type", "access_token", "refresh_token", "expires_in", "scope"}
    assert http.get(f"{x.url}/2/users/me", headers=bearer(body["access_token"])).status_code == 200
    assert again.status_code == 400
    assert refresh(x, http, body["refresh_token"]).status_code == 200


def test_pkce_wrong_verifier_or_redirect_is_refused(x: FakeX, http: httpx.Client) -> None:
    wrong_verifier = exchange(x, http, code_of(authorize(x, http)), "w" * 43)
    code = code_of(authorize(x, http))
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT + "/elsewhere",
        "code_verifier": VERIFIER,
        "client_id": x.client_id,
    }
    wrong_redirect = http.post(f"{x.url}/2/oauth2/token", data=form)

    assert wrong_verifier.status_code == 400
    assert wrong_verifier.json()["error"] == "invalid_request"
    assert wrong_redirect.status_code == 400
    assert x.access_token is None


def test_pkce_authorize_needs_s256_and_every_parameter(x: FakeX, http: httpx.Client) -> None:
    plain = authorize(x, http, code_challenge_method="plain")
    no_state = authorize(x, http, state="")

    assert (plain.status_code, no_state.status_code) == (400, 400)


def test_without_offline_access_there_is_no_refresh_token(x: FakeX, http: httpx.Client) -> None:
    code = code_of(authorize(x, http, scope="tweet.read tweet.write users.read"))

    body = exchange(x, http, code, VERIFIER).json()

    assert "refresh_token" not in body
    assert body["scope"] == "tweet.read tweet.write users.read"


# --- posting ---------------------------------------------------------------------------


def test_publish_returns_201_and_records_the_tweet(x: FakeX, http: httpx.Client) -> None:
    token = x.grant()["access_token"]

    answer = tweet(x, http, token, text="sp:1 Hello")

    assert answer.status_code == 201
    data = answer.json()["data"]
    assert data == {"id": data["id"], "text": "sp:1 Hello"}
    assert data["id"].isdigit()
    assert [t["id"] for t in x.tweets] == [data["id"]]
    assert x.tweets[0]["created_at"] == "2026-01-31T12:00:00.000Z"
    assert x.tweet_url(data["id"]) == f"https://x.com/stopitnow/status/{data['id']}"
    for name in ("x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"):
        assert answer.headers[name].isdigit()


def test_an_exact_repeat_is_a_403_and_posts_nothing(x: FakeX, http: httpx.Client) -> None:
    token = x.grant()["access_token"]
    tweet(x, http, token, text="sp:2 Same words")

    again = tweet(x, http, token, text="sp:2 Same words")

    assert again.status_code == 403
    assert again.json() == {
        "detail": "You are not allowed to create a Tweet with duplicate content.",
        "title": "Forbidden",
        "status": 403,
        "type": "about:blank",
    }
    assert len(x.tweets) == 1


def test_weighted_length_counts_a_url_as_23(x: FakeX, http: httpx.Client) -> None:
    token = x.grant()["access_token"]
    url = "https://example.org/" + "long-path/" * 10  # 120 characters, weighs 23

    fits = tweet(x, http, token, text="a" * 256 + " " + url)  # 256 + 1 + 23 = 280
    over = tweet(x, http, token, text="b" * 257 + " " + url)  # 281
    emoji = tweet(x, http, token, text="😀" * 141)  # 282

    assert fits.status_code == 201
    assert over.status_code == 400
    assert over.json()["type"] == "https://api.twitter.com/2/problems/invalid-request"
    assert over.json()["title"] == "Invalid Request"
    assert over.json()["status"] == 400
    assert emoji.status_code == 400
    assert len(x.tweets) == 1


def test_max_length_is_configurable(clock: FrozenClock, http: httpx.Client) -> None:
    with FakeX(clock=clock, max_length=4000) as premium:
        token = premium.grant()["access_token"]
        assert tweet(premium, http, token, text="a" * 4000).status_code == 201
        assert tweet(premium, http, token, text="b" * 4001).status_code == 400


def test_media_upload_alt_text_and_tweet_with_media(x: FakeX, http: httpx.Client) -> None:
    token = x.grant()["access_token"]

    uploaded = upload(x, http, token)
    media_id = uploaded.json()["data"]["id"]
    described = http.post(
        f"{x.url}/2/media/metadata",
        json={"id": media_id, "metadata": {"alt_text": {"text": "A poster"}}},
        headers=bearer(token),
    )
    posted = tweet(x, http, token, text="sp:3 with a picture", media={"media_ids": [media_id]})

    assert uploaded.status_code == 200
    assert uploaded.json() == {
        "data": {
            "id": media_id,
            "media_key": f"3_{media_id}",
            "expires_after_secs": 86400,
            "size": len(PNG),
        }
    }
    assert media_id.isdigit()
    assert x.media[media_id].data == PNG
    assert described.status_code == 200
    assert described.json() == {
        "data": {"id": media_id, "associated_metadata": {"alt_text": {"text": "A poster"}}}
    }
    assert posted.status_code == 201
    assert x.tweets[-1]["media_ids"] == [media_id]
    assert x.tweets[-1]["alt_texts"] == ["A poster"]


def test_media_limits(x: FakeX, http: httpx.Client) -> None:
    token = x.grant()["access_token"]
    too_big = upload(x, http, token, file=("big.png", b"\0" * (5 * 1024 * 1024 + 1), "image/png"))
    not_image = upload(x, http, token, file=("a.pdf", b"%PDF-1.7", "application/pdf"))
    video = upload(x, http, token, category="tweet_video")
    ids = [upload(x, http, token).json()["data"]["id"] for _ in range(5)]
    long_alt = http.post(
        f"{x.url}/2/media/metadata",
        json={"id": ids[0], "metadata": {"alt_text": {"text": "x" * 1001}}},
        headers=bearer(token),
    )
    five = tweet(x, http, token, text="five", media={"media_ids": ids})
    unknown = tweet(x, http, token, text="unknown", media={"media_ids": ["123"]})
    four = tweet(x, http, token, text="four", media={"media_ids": ids[:4]})

    for refused in (too_big, not_image, video, long_alt, five, unknown):
        assert refused.status_code == 400
        assert refused.json()["type"] == "https://api.twitter.com/2/problems/invalid-request"
    assert ids[0] not in x.alt_texts
    assert four.status_code == 201
    assert [t["text"] for t in x.tweets] == ["four"]


# --- reconciling -----------------------------------------------------------------------


def timeline(x: FakeX, http: httpx.Client, token: str, **params: Any) -> httpx.Response:
    return http.get(f"{x.url}/2/users/{x.user_id}/tweets", params=params, headers=bearer(token))


def test_timeline_pages_newest_first_from_start_time(
    x: FakeX, http: httpx.Client, clock: FrozenClock
) -> None:
    token = x.grant()["access_token"]
    for n in range(3):
        tweet(x, http, token, text=f"before {n}")
        clock.advance(timedelta(minutes=1))
    claim = clock.now()
    for n in range(8):
        tweet(x, http, token, text=f"after {n}")
        clock.advance(timedelta(minutes=1))
    params = {"max_results": 5, "start_time": "2026-01-31T12:03:00Z", "tweet.fields": "created_at"}
    assert claim == datetime(2026, 1, 31, 12, 3, tzinfo=UTC)

    first = timeline(x, http, token, **params).json()
    tweet(x, http, token, text="posted between the pages")
    second = timeline(x, http, token, **params, pagination_token=first["meta"]["next_token"])

    seen = first["data"] + second.json()["data"]
    assert [t["text"] for t in seen] == [f"after {n}" for n in reversed(range(8))]
    assert first["meta"]["result_count"] == 5
    assert first["meta"]["newest_id"] == first["data"][0]["id"]
    assert first["meta"]["oldest_id"] == first["data"][-1]["id"]
    assert "next_token" not in second.json()["meta"]
    assert second.json()["meta"]["result_count"] == 3
    assert seen[-1]["created_at"] == "2026-01-31T12:03:00.000Z"
    assert all(int(a["id"]) > int(b["id"]) for a, b in itertools.pairwise(seen))


def test_timeline_fields_defaults_and_empty(x: FakeX, http: httpx.Client) -> None:
    token = x.grant()["access_token"]
    tweet(x, http, token, text="only one")

    plain = timeline(x, http, token)
    empty = timeline(x, http, token, start_time="2026-02-01T00:00:00Z")
    too_few = timeline(x, http, token, max_results=3)
    bad_time = timeline(x, http, token, start_time="yesterday")

    assert plain.status_code == 200
    assert plain.json()["data"] == [{"id": x.tweets[0]["id"], "text": "only one"}]
    assert (empty.status_code, empty.json()) == (200, {"meta": {"result_count": 0}})
    assert (too_few.status_code, bad_time.status_code) == (400, 400)


# --- faults ----------------------------------------------------------------------------


def test_rate_limit_429_headers(x: FakeX, http: httpx.Client) -> None:
    token = x.grant()["access_token"]
    x.rate_limit(90)

    limited = tweet(x, http, token, text="sp:4 later")
    after = tweet(x, http, token, text="sp:4 later")

    assert limited.status_code == 429
    assert limited.json() == {
        "title": "Too Many Requests",
        "detail": "Too Many Requests",
        "type": "about:blank",
        "status": 429,
    }
    assert limited.headers["x-rate-limit-remaining"] == "0"
    assert int(limited.headers["x-rate-limit-limit"]) > 0
    assert int(limited.headers["x-rate-limit-reset"]) == int(START.timestamp()) + 90
    assert after.status_code == 201
    assert int(after.headers["x-rate-limit-remaining"]) > 0
    assert [t["text"] for t in x.tweets] == ["sp:4 later"]


def test_dropped_after_processing_the_tweet_exists(x: FakeX, http: httpx.Client) -> None:
    token = x.grant()["access_token"]
    x.drop_next(processed=True)

    with pytest.raises(httpx.RemoteProtocolError):
        tweet(x, http, token, text="sp:5 lost answer")

    assert [t["text"] for t in x.tweets] == ["sp:5 lost answer"]
    assert tweet(x, http, token, text="sp:5 lost answer").status_code == 403


def test_generic_scripting_still_works(x: FakeX, http: httpx.Client) -> None:
    token = x.grant()["access_token"]
    x.fail_next(503, "Service Unavailable")
    x.garble_next()

    failed = tweet(x, http, token, text="sp:6 first")
    garbled = tweet(x, http, token, text="sp:6 second")

    assert failed.status_code == 503
    assert (garbled.status_code, garbled.text) == (200, "<html>502 Bad Gateway</html>")
    assert [t["text"] for t in x.tweets] == ["sp:6 second"]
    assert [r.path for r in x.requests] == ["/2/tweets", "/2/tweets"]
