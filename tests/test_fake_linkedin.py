# ruff: noqa: F811  (the fixtures clock and http, imported below)
"""FakeLinkedIn driven with raw httpx exactly as channels.md sections 9 and 15 describe it.

If these pass, a LinkedIn adapter test against :class:`FakeLinkedIn` runs against the
documented Posts API (version and Rest.li headers, the 201 + ``x-restli-id``, little-text
escaping, the 422 duplicate naming the earlier urn, images, the author finder) and
LinkedIn's OAuth 2 (non-rotating refresh token, PKCE), not against the adapter's guess.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from scheduler.clock import FrozenClock
from tests.fakes.imagehost import PNG
from tests.fakes.linkedin import FakeLinkedIn
from tests.fakes.selftest import (  # noqa: F401  (the fixtures clock and http)
    REDIRECT,
    START,
    VERIFIER,
    authorization,
    clock,
    code_of,
    http,
)

START_MS = int(START.timestamp() * 1000)
AUTHOR = "urn:li:organization:2414183"
INVALID_TOKEN = {
    "status": 401,
    "serviceErrorCode": 65600,
    "code": "INVALID_ACCESS_TOKEN",
    "message": "Invalid access token",
}


@pytest.fixture
def li(clock: FrozenClock) -> Iterator[FakeLinkedIn]:
    with FakeLinkedIn(clock=clock) as fake:
        yield fake


def headers(token: str, **overrides: str | None) -> dict[str, str]:
    sent: dict[str, str | None] = {
        "Authorization": f"Bearer {token}",
        "LinkedIn-Version": "202611",
        "X-Restli-Protocol-Version": "2.0.0",
        **overrides,
    }
    return {k: v for k, v in sent.items() if v is not None}


def body(commentary: str, **extra: Any) -> dict[str, Any]:
    return {
        "author": AUTHOR,
        "commentary": commentary,
        "visibility": "PUBLIC",
        "distribution": {
            "feedDistribution": "MAIN_FEED",
            "targetEntities": [],
            "thirdPartyDistributionChannels": [],
        },
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
        **extra,
    }


def post(
    li: FakeLinkedIn, http: httpx.Client, token: str, payload: Any, **overrides: str | None
) -> httpx.Response:
    return http.post(f"{li.url}/rest/posts", json=payload, headers=headers(token, **overrides))


def refresh(li: FakeLinkedIn, http: httpx.Client, token: str, **fields: str) -> httpx.Response:
    form = {
        "grant_type": "refresh_token",
        "refresh_token": token,
        "client_id": li.client_id,
        "client_secret": li.client_secret,
        **fields,
    }
    return http.post(f"{li.url}/oauth/v2/accessToken", data=form)


def upload_image(li: FakeLinkedIn, http: httpx.Client, token: str) -> str:
    init = http.post(
        f"{li.url}/rest/images",
        params={"action": "initializeUpload"},
        json={"initializeUploadRequest": {"owner": AUTHOR}},
        headers=headers(token),
    )
    assert init.status_code == 200
    value = init.json()["value"]
    put = http.put(value["uploadUrl"], content=PNG, headers={"Authorization": f"Bearer {token}"})
    assert put.status_code == 201
    return value["image"]


# --- OAuth 2 ---------------------------------------------------------------------------


def test_grant_lasts_sixty_days(li: FakeLinkedIn, http: httpx.Client, clock: FrozenClock) -> None:
    tokens = li.grant()
    bare = {"Authorization": f"Bearer {tokens['access_token']}"}
    me = http.get(f"{li.url}/v2/userinfo", headers=bare)
    clock.advance(timedelta(days=60))
    late = http.get(f"{li.url}/v2/userinfo", headers=bare)

    assert set(tokens) == {"access_token", "refresh_token", "expires_at"}
    assert tokens["expires_at"] == "2026-04-01T12:00:00Z"
    assert (me.status_code, me.json()["name"]) == (200, "Signpost Admin")
    assert (late.status_code, late.json()) == (401, INVALID_TOKEN)


def test_refresh_keeps_the_refresh_token_and_its_ttl_shrinks(
    li: FakeLinkedIn, http: httpx.Client, clock: FrozenClock
) -> None:
    tokens = li.grant()
    clock.advance(timedelta(days=10))

    first = refresh(li, http, tokens["refresh_token"])
    second = refresh(li, http, tokens["refresh_token"])

    assert first.status_code == second.status_code == 200
    answer = second.json()
    assert set(answer) == {
        "access_token",
        "expires_in",
        "refresh_token",
        "refresh_token_expires_in",
        "scope",
    }
    assert answer["refresh_token"] == tokens["refresh_token"]
    assert answer["expires_in"] == 60 * 86400
    assert answer["refresh_token_expires_in"] == 355 * 86400
    assert li.refreshes == 2
    old = http.get(f"{li.url}/v2/userinfo", headers=headers(first.json()["access_token"]))
    new = http.get(f"{li.url}/v2/userinfo", headers=headers(answer["access_token"]))
    assert (old.status_code, new.status_code) == (401, 200)


def test_refresh_refusals(li: FakeLinkedIn, http: httpx.Client, clock: FrozenClock) -> None:
    tokens = li.grant()

    bad_secret = refresh(li, http, tokens["refresh_token"], client_secret="wrong")
    unknown = refresh(li, http, "li-refresh-999")
    clock.advance(timedelta(days=365))
    expired = refresh(li, http, tokens["refresh_token"])

    assert (bad_secret.status_code, bad_secret.json()["error"]) == (401, "invalid_client")
    assert (unknown.status_code, unknown.json()["error"]) == (400, "invalid_grant")
    assert (expired.status_code, expired.json()["error"]) == (400, "invalid_grant")
    assert li.refreshes == 0


def test_expired_access_token_is_401_until_refreshed(li: FakeLinkedIn, http: httpx.Client) -> None:
    tokens = li.grant()
    li.expire_access_token()

    expired = post(li, http, tokens["access_token"], body("sp:1 hi"))
    missing = http.post(f"{li.url}/rest/posts", json=body("sp:1 hi"))
    fresh = refresh(li, http, tokens["refresh_token"]).json()["access_token"]
    li.reject_token()
    revoked = post(li, http, fresh, body("sp:1 hi"))

    assert (expired.status_code, expired.json()) == (401, INVALID_TOKEN)
    assert (missing.status_code, missing.json()) == (401, INVALID_TOKEN)
    assert (revoked.status_code, revoked.json()) == (401, INVALID_TOKEN)
    assert refresh(li, http, tokens["refresh_token"]).status_code == 400
    assert li.posts == []


def test_a_token_in_the_url_is_refused_and_counted(li: FakeLinkedIn, http: httpx.Client) -> None:
    token = li.grant()["access_token"]

    named = http.get(f"{li.url}/v2/userinfo", params={"oauth2_access_token": token})
    plain = http.get(f"{li.url}/v2/userinfo", params={"access_token": token})
    hidden = http.get(f"{li.url}/v2/userinfo", params={"t": token}, headers=headers(token))

    assert [r.status_code for r in (named, plain, hidden)] == [400, 400, 400]
    assert named.json()["status"] == 400
    assert li.tokens_in_urls == 3


def authorize(li: FakeLinkedIn, http: httpx.Client, **overrides: str) -> httpx.Response:
    scope = "openid profile w_organization_social r_organization_social"
    params = authorization(li.client_id, scope, **overrides)
    return http.get(f"{li.url}/oauth/v2/authorization", params=params)


def exchange(li: FakeLinkedIn, http: httpx.Client, code: str, **fields: str) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": li.client_id,
        "client_secret": li.client_secret,
        "code_verifier": VERIFIER,
        **fields,
    }
    return http.post(f"{li.url}/oauth/v2/accessToken", data=form)


def test_pkce_code_flow_issues_tokens_once(li: FakeLinkedIn, http: httpx.Client) -> None:
    code = code_of(authorize(li, http))

    answer = exchange(li, http, code)
    again = exchange(li, http, code)

    assert answer.status_code == 200
    tokens = answer.json()
    assert tokens["expires_in"] == 60 * 86400
    assert tokens["refresh_token_expires_in"] == 365 * 86400
    assert tokens["scope"] == "openid profile w_organization_social r_organization_social"
    assert post(li, http, tokens["access_token"], body("sp:2 via code")).status_code == 201
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")
    assert refresh(li, http, tokens["refresh_token"]).status_code == 200


def test_pkce_refusals(li: FakeLinkedIn, http: httpx.Client, clock: FrozenClock) -> None:
    wrong_verifier = exchange(li, http, code_of(authorize(li, http)), code_verifier="w" * 43)
    wrong_redirect = exchange(li, http, code_of(authorize(li, http)), redirect_uri=REDIRECT + "/x")
    no_secret = exchange(li, http, code_of(authorize(li, http)), client_secret="")
    late_code = code_of(authorize(li, http))
    clock.advance(timedelta(minutes=30))
    late = exchange(li, http, late_code)
    plain = authorize(li, http, code_challenge_method="plain")
    no_state = authorize(li, http, state="")

    assert [r.status_code for r in (wrong_verifier, wrong_redirect, late)] == [400, 400, 400]
    assert no_secret.status_code == 401
    assert (plain.status_code, no_state.status_code) == (400, 400)
    assert li.access_token is None


# --- posting ---------------------------------------------------------------------------


def test_publish_is_201_with_the_urn_in_x_restli_id(li: FakeLinkedIn, http: httpx.Client) -> None:
    token = li.grant()["access_token"]

    answer = post(li, http, token, body("sp:3 Hello, LinkedIn."))

    assert answer.status_code == 201
    assert answer.content == b""
    urn = answer.headers["x-restli-id"]
    assert urn.startswith("urn:li:share:") and urn.removeprefix("urn:li:share:").isdigit()
    [stored] = li.posts
    assert stored["urn"] == urn
    assert (stored["commentary"], stored["content"]) == ("sp:3 Hello, LinkedIn.", None)
    assert stored["created_at"] == START_MS
    assert li.post_url(urn) == f"https://www.linkedin.com/feed/update/{urn}"


def test_version_and_restli_headers_are_required(li: FakeLinkedIn, http: httpx.Client) -> None:
    token = li.grant()["access_token"]

    no_version = post(li, http, token, body("a"), **{"LinkedIn-Version": None})
    old_version = post(li, http, token, body("a"), **{"LinkedIn-Version": "202301"})
    no_restli = post(li, http, token, body("a"), **{"X-Restli-Protocol-Version": None})
    li.versions.add("202301")
    accepted = post(li, http, token, body("a"), **{"LinkedIn-Version": "202301"})

    assert no_version.status_code == 400
    assert "LinkedIn-Version" in no_version.json()["message"]
    assert old_version.status_code == 426
    assert old_version.json() == {
        "status": 426,
        "code": "NONEXISTENT_VERSION",
        "message": "Requested version 202301 is not active",
    }
    assert no_restli.status_code == 400
    assert "X-Restli-Protocol-Version" in no_restli.json()["message"]
    assert accepted.status_code == 201
    assert len(li.posts) == 1


def test_body_fields_are_checked(li: FakeLinkedIn, http: httpx.Client) -> None:
    token = li.grant()["access_token"]
    feed = {"feedDistribution": "NONE"}

    other_author = post(li, http, token, body("a", author="urn:li:organization:1"))
    refused = [
        post(li, http, token, body("b", visibility="CONNECTIONS")),
        post(li, http, token, body("c", distribution=feed)),
        post(li, http, token, body("d", lifecycleState="DRAFT")),
        post(li, http, token, body("e", content={"article": {"title": "No source"}})),
        post(li, http, token, body("f" * 3001)),
    ]
    not_json = http.post(f"{li.url}/rest/posts", content=b"commentary", headers=headers(token))
    fits = post(li, http, token, body("g" * 3000))

    assert (other_author.status_code, other_author.json()["code"]) == (403, "ACCESS_DENIED")
    for answer in refused:
        assert (answer.status_code, answer.json()["status"]) == (422, 422)
    assert "3000" in refused[-1].json()["message"]
    assert not_json.status_code == 400
    assert fits.status_code == 201
    assert [p["commentary"] for p in li.posts] == ["g" * 3000]


def test_reserved_characters_must_be_escaped(li: FakeLinkedIn, http: httpx.Client) -> None:
    token = li.grant()["access_token"]
    reserved = "()[]{}<>@#*_~|"
    raw = [post(li, http, token, body(f"sp:4 see {char} here")) for char in reserved]
    lone_backslash = post(li, http, token, body("sp:4 50\\% off"))  # "\%" is no escape

    ok = post(li, http, token, body(r"sp:4 Rally \(Sat\) \#climate \@team a\_b C:\\temp \~"))

    for answer, char in zip(raw, reserved, strict=True):
        assert answer.status_code == 422
        assert answer.json()["code"] == "UNPROCESSABLE_ENTITY"
        assert repr(char) in answer.json()["message"]
    assert lone_backslash.status_code == 422
    assert repr("\\") in lone_backslash.json()["message"]
    assert ok.status_code == 201
    assert li.rendered(li.posts[0]) == r"sp:4 Rally (Sat) #climate @team a_b C:\temp ~"
    assert li.rendered(ok.headers["x-restli-id"]) == li.rendered(li.posts[0])
    assert len(li.posts) == 1


def test_a_duplicate_is_422_naming_the_earlier_urn(li: FakeLinkedIn, http: httpx.Client) -> None:
    token = li.grant()["access_token"]
    first = post(li, http, token, body("sp:5 Same words"))

    again = post(li, http, token, body("sp:5 Same words"))

    assert again.status_code == 422
    assert again.json() == {
        "status": 422,
        "code": "DUPLICATE_POST",
        "message": f"Content is a duplicate of {first.headers['x-restli-id']}",
    }
    assert len(li.posts) == 1


def test_article_card_is_stored(li: FakeLinkedIn, http: httpx.Client) -> None:
    token = li.grant()["access_token"]
    article = {"source": "https://example.org/rally", "title": "Rally", "description": "Sat"}

    answer = post(li, http, token, body("sp:6 card", content={"article": article}))

    assert answer.status_code == 201
    assert li.posts[0]["content"] == {"article": article}


def test_image_upload_then_post(li: FakeLinkedIn, http: httpx.Client) -> None:
    token = li.grant()["access_token"]
    init = http.post(
        f"{li.url}/rest/images?action=initializeUpload",
        json={"initializeUploadRequest": {"owner": AUTHOR}},
        headers=headers(token),
    )
    value = init.json()["value"]
    anonymous = http.put(value["uploadUrl"], content=PNG)
    pending = post(li, http, token, body("sp:7 early", content={"media": {"id": value["image"]}}))
    put = http.put(value["uploadUrl"], content=PNG, headers={"Authorization": f"Bearer {token}"})
    media = {"media": {"id": value["image"], "altText": "A poster"}}
    posted = post(li, http, token, body("sp:7 with a picture", content=media))
    unknown = post(li, http, token, body("sp:7 b", content={"media": {"id": "urn:li:image:X"}}))

    assert init.status_code == 200
    assert value["uploadUrl"].startswith(f"{li.url}/upload/")
    assert value["image"].startswith("urn:li:image:")
    assert value["uploadUrlExpiresAt"] == START_MS + 3600_000
    assert anonymous.status_code == 401
    assert pending.status_code == 422
    assert put.status_code == 201
    assert li.images[value["image"]] == PNG
    assert posted.status_code == 201
    assert li.posts[0]["content"] == media
    assert unknown.status_code == 422
    assert len(li.posts) == 1


def test_image_owner_must_be_the_author(li: FakeLinkedIn, http: httpx.Client) -> None:
    token = li.grant()["access_token"]

    answer = http.post(
        f"{li.url}/rest/images?action=initializeUpload",
        json={"initializeUploadRequest": {"owner": "urn:li:organization:1"}},
        headers=headers(token),
    )

    assert (answer.status_code, answer.json()["code"]) == (403, "ACCESS_DENIED")


def test_posting_as_an_organisation_needs_its_scope(li: FakeLinkedIn, http: httpx.Client) -> None:
    token = li.grant(scope="openid profile w_member_social")["access_token"]

    answer = post(li, http, token, body("sp:8 no scope"))

    assert answer.status_code == 403
    assert "w_organization_social" in answer.json()["message"]
    assert li.posts == []


# --- reconciling and credentials -------------------------------------------------------


def test_posts_by_author_newest_first_paged_by_start(
    li: FakeLinkedIn, http: httpx.Client, clock: FrozenClock
) -> None:
    token = li.grant()["access_token"]
    urns = []
    for n in range(12):
        urns.append(post(li, http, token, body(f"sp:9 post {n}")).headers["x-restli-id"])
        clock.advance(timedelta(minutes=1))
    url = f"{li.url}/rest/posts?author=urn%3Ali%3Aorganization%3A2414183&q=author"

    first = http.get(f"{url}&count=10&start=0", headers=headers(token))
    second = http.get(f"{url}&count=10&start=10", headers=headers(token))
    wrong_finder = http.get(url.replace("q=author", "q=other"), headers=headers(token))
    other_author = http.get(
        f"{li.url}/rest/posts",
        params={"author": "urn:li:organization:1", "q": "author"},
        headers=headers(token),
    )
    no_version = http.get(url, headers=headers(token, **{"LinkedIn-Version": None}))

    assert first.status_code == 200
    page = first.json()
    assert [e["id"] for e in page["elements"]] == urns[::-1][:10]
    assert page["paging"]["start"] == 0 and page["paging"]["count"] == 10
    assert page["paging"]["total"] == 12
    newest = page["elements"][0]
    assert newest["commentary"] == "sp:9 post 11"
    assert newest["createdAt"] == START_MS + 11 * 60_000
    assert [e["id"] for e in second.json()["elements"]] == urns[1::-1]
    assert (wrong_finder.status_code, other_author.status_code) == (400, 403)
    assert no_version.status_code == 400


def test_credentials_checks(li: FakeLinkedIn, http: httpx.Client) -> None:
    token = li.grant()["access_token"]

    organization = http.get(f"{li.url}/rest/organizations/2414183", headers=headers(token))
    other = http.get(f"{li.url}/rest/organizations/1", headers=headers(token))
    bare = http.get(
        f"{li.url}/rest/organizations/2414183", headers={"Authorization": f"Bearer {token}"}
    )
    userinfo = http.get(f"{li.url}/v2/userinfo", headers={"Authorization": f"Bearer {token}"})

    assert organization.status_code == 200
    assert organization.json()["localizedName"] == "Signpost"
    assert organization.json()["id"] == 2414183
    assert other.status_code == 404
    assert bare.status_code == 400
    assert userinfo.status_code == 200 and userinfo.json()["name"]


# --- faults ----------------------------------------------------------------------------


def test_fail_after_posting_makes_the_post(li: FakeLinkedIn, http: httpx.Client) -> None:
    token = li.grant()["access_token"]
    li.fail_after_posting()

    timed_out = post(li, http, token, body("sp:10 landed anyway"))
    li.fail_after_posting(status=500)
    crashed = post(li, http, token, body("sp:10 second"))
    retried = post(li, http, token, body("sp:10 landed anyway"))

    assert (timed_out.status_code, timed_out.json()["code"]) == (504, "GATEWAY_TIMEOUT")
    assert crashed.status_code == 500
    assert "x-restli-id" not in timed_out.headers
    assert [p["commentary"] for p in li.posts] == ["sp:10 landed anyway", "sp:10 second"]
    assert retried.json()["message"] == f"Content is a duplicate of {li.posts[0]['urn']}"


def test_rate_limit_is_429_without_a_reset_header(li: FakeLinkedIn, http: httpx.Client) -> None:
    token = li.grant()["access_token"]
    li.rate_limit()

    limited = post(li, http, token, body("sp:11 later"))
    after = post(li, http, token, body("sp:11 later"))

    assert limited.status_code == 429
    assert limited.json()["status"] == 429
    assert not {"retry-after", "x-ratelimit-reset", "x-rate-limit-reset"} & set(limited.headers)
    assert after.status_code == 201
    assert len(li.posts) == 1


def test_dropped_after_processing_the_post_exists(li: FakeLinkedIn, http: httpx.Client) -> None:
    token = li.grant()["access_token"]
    li.drop_next(processed=True)

    with pytest.raises(httpx.RemoteProtocolError):
        post(li, http, token, body("sp:12 lost answer"))

    assert [p["commentary"] for p in li.posts] == ["sp:12 lost answer"]
    assert post(li, http, token, body("sp:12 lost answer")).json()["code"] == "DUPLICATE_POST"


def test_generic_scripting_still_works(li: FakeLinkedIn, http: httpx.Client) -> None:
    token = li.grant()["access_token"]
    li.fail_next(503, "Service Unavailable")
    li.garble_next()

    failed = post(li, http, token, body("sp:13 first"))
    garbled = post(li, http, token, body("sp:13 second"))

    assert failed.status_code == 503
    assert (garbled.status_code, garbled.text) == (200, "<html>502 Bad Gateway</html>")
    assert [p["commentary"] for p in li.posts] == ["sp:13 second"]
    assert [r.path for r in li.requests] == ["/rest/posts", "/rest/posts"]
