"""The channel fakes themselves, driven with raw httpx exactly as channels.md describes.

If these pass, an adapter test that runs against a fake runs against the documented
behaviour of the channel (sections 1, 4, 5 and 6 of /work/shared/channels.md), not against
whatever the adapter's author assumed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from scheduler.clock import FrozenClock
from tests.fakes import (
    STOPITNOW,
    FakeDiscord,
    FakeMastodon,
    FakeServer,
    FakeServerError,
    FakeSlack,
    FakeTelegram,
    SlackChannel,
    TelegramChat,
)
from tests.fakes.server import json_reply

START = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) + b"\r\n--not-a-boundary\r\n"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


# --- the server under every fake ------------------------------------------------------


@pytest.fixture
def echo() -> Iterator[FakeServer]:
    with FakeServer() as server:
        server.route("POST GET", r"/echo/(?P<name>\w+)", lambda r, m: json_reply(201, m["name"]))
        yield server


def test_server_records_json_form_and_multipart(echo: FakeServer, http: httpx.Client) -> None:
    http.post(f"{echo.url}/echo/a?x=1&y=two", json={"k": [1, "ü"]}, headers={"X-Thing": "v"})
    http.post(f"{echo.url}/echo/b", data={"media_ids[]": ["1", "2"], "status": "hé"})
    http.post(
        f"{echo.url}/echo/c",
        data={"description": "alt\r\ntext"},
        files={"file": ("a.png", PNG, "image/png")},
    )

    first, second, third = echo.requests
    assert (first.method, first.path, first.query) == ("POST", "/echo/a", {"x": "1", "y": "two"})
    assert first.headers["x-thing"] == "v"
    assert first.json == {"k": [1, "ü"]}
    assert json.loads(first.body) == first.json
    assert second.form_list("media_ids[]") == ["1", "2"]
    assert second.form["status"] == "hé"
    assert second.param("status") == "hé"
    assert third.form == {"description": "alt\r\ntext"}
    upload = third.files["file"]
    assert (upload.filename, upload.content_type, upload.data) == ("a.png", "image/png", PNG)


def test_unknown_path_and_wrong_method(echo: FakeServer, http: httpx.Client) -> None:
    assert http.get(f"{echo.url}/nowhere").status_code == 404
    assert http.delete(f"{echo.url}/echo/x").status_code == 405
    assert http.get(f"{echo.url}/echo/x").json() == "x"


def test_fail_next_answers_the_next_request_only(echo: FakeServer, http: httpx.Client) -> None:
    echo.fail_next(503, {"error": "down"}, headers={"Retry-After": "7"})

    failed = http.get(f"{echo.url}/anything-at-all")
    after = http.get(f"{echo.url}/echo/ok")

    assert (failed.status_code, failed.json(), failed.headers["retry-after"]) == (
        503,
        {"error": "down"},
        "7",
    )
    assert (after.status_code, after.json()) == (201, "ok")
    assert len(echo.requests) == 2


def test_drop_next_reads_the_request_then_closes(echo: FakeServer, http: httpx.Client) -> None:
    echo.drop_next()

    with pytest.raises(httpx.RemoteProtocolError):
        http.post(f"{echo.url}/echo/lost", content=b"x" * 100_000)

    assert echo.requests[0].body == b"x" * 100_000
    assert http.get(f"{echo.url}/echo/next").status_code == 201


def test_a_bug_in_a_fake_fails_the_test_instead_of_looking_like_a_drop(
    http: httpx.Client,
) -> None:
    def broken(request: object, match: object) -> object:
        raise KeyError("bug")

    with pytest.raises(FakeServerError, match="bug"):
        with FakeServer() as server:
            server.route("GET", "/", broken)  # type: ignore[arg-type]
            with pytest.raises(httpx.RemoteProtocolError):
                http.get(server.url + "/")


# --- Mastodon -------------------------------------------------------------------------


@pytest.fixture
def mastodon(clock: FrozenClock) -> Iterator[FakeMastodon]:
    with FakeMastodon(clock=clock) as fake:
        yield fake


def toot(
    fake: FakeMastodon, http: httpx.Client, token: str = "mastodon-token", **kwargs: object
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}  # type: ignore[dict-item]
    return http.post(f"{fake.url}/api/v1/statuses", headers=headers, **kwargs)  # type: ignore[arg-type]


def test_mastodon_publish_returns_a_status(mastodon: FakeMastodon, http: httpx.Client) -> None:
    response = toot(mastodon, http, data={"status": "Help is here: https://example.org/help"})

    assert response.status_code == 200
    status = response.json()
    assert isinstance(status["id"], str)
    assert status["url"] == f"{mastodon.url}/@signpost/{status['id']}"
    assert status["uri"] == f"{mastodon.url}/users/signpost/statuses/{status['id']}"
    assert status["created_at"] == "2026-01-31T12:00:00.000Z"
    assert status["visibility"] == "public"
    assert status["content"] == (
        '<p>Help is here: <a href="https://example.org/help" target="_blank" '
        'rel="nofollow noopener" translate="no"><span class="invisible">https://</span>'
        '<span class="">example.org/help</span><span class="invisible"></span></a></p>'
    )
    assert mastodon.statuses == [status]
    assert mastodon.sources[status["id"]] == "Help is here: https://example.org/help"
    assert response.headers["x-ratelimit-limit"] == "300"


def test_mastodon_publish_json_with_options(mastodon: FakeMastodon, http: httpx.Client) -> None:
    body = {"status": "Line one\nline two\n\nNew <para>", "visibility": "unlisted"}
    status = toot(mastodon, http, json={**body, "language": "de", "spoiler_text": "cw"}).json()

    assert (status["visibility"], status["language"], status["spoiler_text"]) == (
        "unlisted",
        "de",
        "cw",
    )
    assert status["content"] == "<p>Line one<br />line two</p><p>New &lt;para&gt;</p>"
    long_link = "https://www.example.org/" + "a" * 40
    linked = toot(mastodon, http, json={"status": long_link}).json()["content"]
    assert '<span class="invisible">https://www.</span>' in linked
    assert f'<span class="ellipsis">example.org/{"a" * 18}</span>' in linked


def test_mastodon_same_idempotency_key_within_the_hour_returns_the_same_status(
    mastodon: FakeMastodon, http: httpx.Client, clock: FrozenClock
) -> None:
    key = {"Idempotency-Key": "delivery-42"}
    first = toot(mastodon, http, data={"status": "once"}, headers=key).json()
    clock.advance(timedelta(minutes=59))
    again = toot(mastodon, http, data={"status": "once"}, headers=key).json()
    other = toot(mastodon, http, data={"status": "once"}, headers={"Idempotency-Key": "d-43"})

    assert again == first
    assert other.json()["id"] != first["id"]
    assert len(mastodon.statuses) == 2

    clock.advance(timedelta(minutes=2))  # 61 minutes after the first: the key is forgotten
    late = toot(mastodon, http, data={"status": "once"}, headers=key).json()
    assert late["id"] != first["id"]
    assert len(mastodon.statuses) == 3


def test_mastodon_without_a_key_every_post_is_new(
    mastodon: FakeMastodon, http: httpx.Client
) -> None:
    ids = {toot(mastodon, http, data={"status": "same"}).json()["id"] for _ in range(3)}
    assert len(ids) == 3
    assert [s["id"] for s in mastodon.statuses] == sorted(ids, key=int)


URL = "https://example.org/" + "x" * 200  # counts 23


@pytest.mark.parametrize(
    ("status", "spoiler", "accepted"),
    [
        ("a" * 500, "", True),
        ("a" * 501, "", False),
        ("a" * 476 + " " + URL, "", True),
        ("a" * 477 + " " + URL, "", False),
        ("👨‍👩‍👧" * 500, "", True),  # one grapheme cluster each
        ("e\u0301" * 501, "", False),
        ("@alice@example.social " + "a" * 493, "", True),  # the mention counts as "@alice"
        ("@alice@example.social " + "a" * 494, "", False),
        ("a" * 490, "b" * 10, True),  # spoiler_text counts too
        ("a" * 490, "b" * 11, False),
    ],
)
def test_mastodon_length_rule(
    mastodon: FakeMastodon, http: httpx.Client, status: str, spoiler: str, accepted: bool
) -> None:
    response = toot(mastodon, http, data={"status": status, "spoiler_text": spoiler})

    if accepted:
        assert response.status_code == 200
    else:
        assert response.status_code == 422
        assert response.json() == {
            "error": "Validation failed: Text character limit of 500 exceeded"
        }
    assert len(mastodon.statuses) == (1 if accepted else 0)


def test_mastodon_max_characters_is_configurable(http: httpx.Client) -> None:
    with FakeMastodon(max_characters=100) as fake:
        instance = http.get(f"{fake.url}/api/v2/instance").json()
        response = toot(fake, http, data={"status": "a" * 101})

    assert instance["configuration"]["statuses"]["max_characters"] == 100
    assert response.json() == {"error": "Validation failed: Text character limit of 100 exceeded"}


def test_mastodon_instance_limits(mastodon: FakeMastodon, http: httpx.Client) -> None:
    config = http.get(f"{mastodon.url}/api/v2/instance").json()["configuration"]

    assert config["statuses"] == {
        "max_characters": 500,
        "max_media_attachments": 4,
        "characters_reserved_per_url": 23,
    }
    assert config["media_attachments"]["description_limit"] == 1500
    assert config["media_attachments"]["image_size_limit"] > 0


def test_mastodon_empty_status_is_rejected(mastodon: FakeMastodon, http: httpx.Client) -> None:
    response = toot(mastodon, http, data={"status": "  "})
    assert (response.status_code, response.json()["error"]) == (
        422,
        "Validation failed: Text can't be blank",
    )


def test_mastodon_invalid_token(mastodon: FakeMastodon, http: httpx.Client) -> None:
    wrong = toot(mastodon, http, token="nope", data={"status": "hi"})
    assert (wrong.status_code, wrong.json()) == (401, {"error": "The access token is invalid"})

    mastodon.reject_token()
    revoked = toot(mastodon, http, data={"status": "hi"})
    me = http.get(
        f"{mastodon.url}/api/v1/accounts/verify_credentials",
        headers={"Authorization": "Bearer mastodon-token"},
    )
    assert (revoked.status_code, revoked.json()) == (401, {"error": "The access token is invalid"})
    assert me.status_code == 401
    assert mastodon.statuses == []


def test_mastodon_rate_limit(
    mastodon: FakeMastodon, http: httpx.Client, clock: FrozenClock
) -> None:
    mastodon.rate_limit(90)

    limited = toot(mastodon, http, data={"status": "hi"})
    after = toot(mastodon, http, data={"status": "hi"})

    assert (limited.status_code, limited.json()) == (429, {"error": "Too many requests"})
    assert limited.headers["x-ratelimit-limit"] == "300"
    assert limited.headers["x-ratelimit-remaining"] == "0"
    reset = datetime.fromisoformat(limited.headers["x-ratelimit-reset"])
    assert reset == clock.now() + timedelta(seconds=90)
    assert after.status_code == 200
    assert len(mastodon.statuses) == 1


def test_mastodon_dropped_after_processing_then_retried_with_the_key(
    mastodon: FakeMastodon, http: httpx.Client
) -> None:
    key = {"Idempotency-Key": "delivery-7"}
    mastodon.drop_next(processed=True)
    with pytest.raises(httpx.RemoteProtocolError):
        toot(mastodon, http, data={"status": "sp:7 hello"}, headers=key)

    retried = toot(mastodon, http, data={"status": "sp:7 hello"}, headers=key)

    assert retried.status_code == 200
    assert [s["id"] for s in mastodon.statuses] == [retried.json()["id"]]


def upload(fake: FakeMastodon, http: httpx.Client, **data: str) -> httpx.Response:
    return http.post(
        f"{fake.url}/api/v2/media",
        headers={"Authorization": "Bearer mastodon-token"},
        data=data,
        files={"file": ("poster.png", PNG, "image/png")},
    )


def test_mastodon_media_processed_at_once(mastodon: FakeMastodon, http: httpx.Client) -> None:
    response = upload(mastodon, http, description="A poster with the helpline number")
    media = response.json()
    status = toot(mastodon, http, data={"status": "See poster", "media_ids[]": [media["id"]]})

    assert response.status_code == 200
    assert media["url"] and media["type"] == "image"
    assert media["description"] == "A poster with the helpline number"
    assert mastodon.media_files[media["id"]].data == PNG
    attached = status.json()["media_attachments"]
    assert [(a["id"], a["description"]) for a in attached] == [
        (media["id"], "A poster with the helpline number")
    ]


def test_mastodon_media_processed_later_must_be_polled(http: httpx.Client) -> None:
    auth = {"Authorization": "Bearer mastodon-token"}
    with FakeMastodon(async_media_polls=2) as fake:
        accepted = upload(fake, http)
        media_id = accepted.json()["id"]
        too_early = toot(fake, http, json={"status": "x", "media_ids": [media_id]})
        polls = [http.get(f"{fake.url}/api/v1/media/{media_id}", headers=auth) for _ in range(3)]
        posted = toot(fake, http, json={"status": "x", "media_ids": [media_id]})

    assert (accepted.status_code, accepted.json()["url"]) == (202, None)
    assert too_early.status_code == 422
    assert [p.status_code for p in polls] == [206, 206, 200]
    assert polls[0].json()["url"] is None and polls[2].json()["url"]
    assert posted.status_code == 200
    assert posted.json()["media_attachments"][0]["url"] == polls[2].json()["url"]


def test_mastodon_media_needs_a_mime_type_and_a_short_description(
    mastodon: FakeMastodon, http: httpx.Client
) -> None:
    body = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\n'
        + PNG
        + b"\r\n--b--\r\n"
    )
    no_type = http.post(
        f"{mastodon.url}/api/v2/media",
        headers={
            "Authorization": "Bearer mastodon-token",
            "Content-Type": "multipart/form-data; boundary=b",
        },
        content=body,
    )
    too_long = upload(mastodon, http, description="d" * 1501)
    at_limit = upload(mastodon, http, description="d" * 1500)

    assert no_type.status_code == 422
    assert no_type.json()["error"].startswith("Validation failed: ")
    assert too_long.status_code == 422
    assert too_long.json()["error"].startswith("Validation failed: Description is too long")
    assert at_limit.status_code == 200
    assert len(mastodon.media) == 1


def test_mastodon_account_statuses_for_reconciling(
    mastodon: FakeMastodon, http: httpx.Client
) -> None:
    auth = {"Authorization": "Bearer mastodon-token"}
    me = http.get(f"{mastodon.url}/api/v1/accounts/verify_credentials", headers=auth).json()
    first = toot(mastodon, http, data={"status": "sp:1"}).json()
    toot(mastodon, http, data={"status": "a reply", "in_reply_to_id": first["id"]})
    third = toot(mastodon, http, data={"status": "sp:3"}).json()

    listed = http.get(
        f"{mastodon.url}/api/v1/accounts/{me['id']}/statuses",
        params={"limit": 40, "exclude_replies": "true"},
        headers=auth,
    ).json()
    with_replies = http.get(
        f"{mastodon.url}/api/v1/accounts/{me['id']}/statuses", params={"limit": 2}, headers=auth
    ).json()

    assert (me["username"], me["acct"], me["url"]) == (
        "signpost",
        "signpost",
        f"{mastodon.url}/@signpost",
    )
    assert isinstance(me["id"], str)
    assert [s["id"] for s in listed] == [third["id"], first["id"]]  # newest first, no replies
    assert len(with_replies) == 2 and with_replies[0]["id"] == third["id"]
    assert http.get(f"{mastodon.url}/api/v1/accounts/0/statuses").status_code == 404


# --- Telegram -------------------------------------------------------------------------


@pytest.fixture
def telegram(clock: FrozenClock) -> Iterator[FakeTelegram]:
    group = TelegramChat(-4000000001, "group", title="Volunteers")
    with FakeTelegram(chats=[STOPITNOW, group], clock=clock) as fake:
        yield fake


def bot(fake: FakeTelegram, http: httpx.Client, method: str, **kwargs: object) -> httpx.Response:
    return http.post(f"{fake.url}/bot123:abc/{method}", **kwargs)  # type: ignore[arg-type]


def test_telegram_get_me(telegram: FakeTelegram, http: httpx.Client) -> None:
    response = http.get(f"{telegram.url}/bot123:abc/getMe")
    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert response.json()["result"]["id"] == 123
    assert response.json()["result"]["is_bot"] is True


def test_telegram_send_message(telegram: FakeTelegram, http: httpx.Client) -> None:
    first = bot(telegram, http, "sendMessage", json={"chat_id": "@stopitnow", "text": "Hello"})
    second = bot(
        telegram,
        http,
        "sendMessage",
        data={
            "chat_id": str(STOPITNOW.id),
            "text": "Again",
            "link_preview_options": json.dumps({"is_disabled": True}),
        },
    )
    elsewhere = bot(telegram, http, "sendMessage", json={"chat_id": -4000000001, "text": "Hi"})

    assert first.status_code == 200
    body = first.json()
    assert body["ok"] is True
    message = body["result"]
    assert message["message_id"] == 1
    assert message["chat"] == {
        "id": -1001234567890,
        "type": "channel",
        "title": "Stop It Now",
        "username": "stopitnow",
    }
    assert message["text"] == "Hello"
    assert message["date"] == int(START.timestamp())
    assert second.json()["result"]["message_id"] == 2  # increasing per chat
    assert elsewhere.json()["result"]["message_id"] == 1
    assert [m["text"] for m in telegram.messages] == ["Hello", "Again", "Hi"]


@pytest.mark.parametrize(
    ("text", "parse_mode", "accepted"),
    [
        ("a" * 4096, None, True),
        ("a" * 4097, None, False),
        ("😀" * 2048, None, True),  # 4096 UTF-16 code units
        ("😀" * 2049, None, False),
        ("<b>" + "a" * 4096 + "</b>", "HTML", True),  # counted after entities parsing
        ("*" + "a" * 4096 + "*", "MarkdownV2", True),
        ("\\." * 4097, "MarkdownV2", False),
    ],
)
def test_telegram_text_limit(
    telegram: FakeTelegram, http: httpx.Client, text: str, parse_mode: str | None, accepted: bool
) -> None:
    payload = {"chat_id": "@stopitnow", "text": text}
    if parse_mode:
        payload["parse_mode"] = parse_mode
    response = bot(telegram, http, "sendMessage", json=payload)

    if accepted:
        assert response.status_code == 200
    else:
        assert response.status_code == 400
        assert response.json() == {
            "ok": False,
            "error_code": 400,
            "description": "Bad Request: message is too long",
        }


def test_telegram_parse_modes(telegram: FakeTelegram, http: httpx.Client) -> None:
    def send(text: str, mode: str) -> httpx.Response:
        payload = {"chat_id": "@stopitnow", "text": text, "parse_mode": mode}
        return bot(telegram, http, "sendMessage", json=payload)

    html = send('<b>Call</b> <a href="https://x.org">us</a> &amp; talk', "HTML")
    markdown = send("*Call* [us](https://x.org/a\\)b) now\\!", "MarkdownV2")
    bad_tag = send("<blink>hi</blink>", "HTML")
    unescaped = send("Call now!", "MarkdownV2")

    assert html.json()["result"]["text"] == "Call us & talk"
    assert markdown.json()["result"]["text"] == "Call us now!"
    assert bad_tag.status_code == 400
    assert bad_tag.json()["description"].startswith("Bad Request: can't parse entities: ")
    assert unescaped.json()["description"] == (
        "Bad Request: can't parse entities: "
        "Character '!' is reserved and must be escaped with the preceding '\\'"
    )


def test_telegram_empty_text(telegram: FakeTelegram, http: httpx.Client) -> None:
    response = bot(telegram, http, "sendMessage", json={"chat_id": "@stopitnow", "text": ""})
    assert (response.status_code, response.json()["description"]) == (
        400,
        "Bad Request: message text is empty",
    )


def test_telegram_send_photo(telegram: FakeTelegram, http: httpx.Client) -> None:
    def send(caption: str) -> httpx.Response:
        return bot(
            telegram,
            http,
            "sendPhoto",
            data={"chat_id": "@stopitnow", "caption": caption},
            files={"photo": ("poster.png", PNG, "image/png")},
        )

    sent = send("😀" * 512)  # 1024 UTF-16 units
    too_long = send("a" * 1025)

    assert sent.status_code == 200
    result = sent.json()["result"]
    assert result["caption"] == "😀" * 512
    assert result["photo"][0]["file_size"] == len(PNG)
    assert telegram.files[result["photo"][0]["file_id"]].data == PNG
    assert too_long.json() == {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: message caption is too long",
    }
    missing = bot(telegram, http, "sendPhoto", data={"chat_id": "@stopitnow"})
    assert missing.json()["description"] == "Bad Request: there is no photo in the request"


def test_telegram_bad_tokens(telegram: FakeTelegram, http: httpx.Client) -> None:
    wrong = http.post(f"{telegram.url}/bot123:wrong/sendMessage", json={})
    malformed = http.post(f"{telegram.url}/botnotatoken/sendMessage", json={})
    unknown_method = bot(telegram, http, "sendTelepathy", json={})
    telegram.reject_token()
    revoked = bot(telegram, http, "sendMessage", json={"chat_id": "@stopitnow", "text": "x"})

    unauthorized = {"ok": False, "error_code": 401, "description": "Unauthorized"}
    not_found = {"ok": False, "error_code": 404, "description": "Not Found"}
    assert (wrong.status_code, wrong.json()) == (401, unauthorized)
    assert (revoked.status_code, revoked.json()) == (401, unauthorized)
    assert (malformed.status_code, malformed.json()) == (404, not_found)
    assert (unknown_method.status_code, unknown_method.json()) == (404, not_found)
    assert telegram.messages == []


@pytest.mark.parametrize(("seconds", "announced"), [(3, 3), (2.5, 3)])
def test_telegram_rate_limit(
    telegram: FakeTelegram, http: httpx.Client, seconds: float, announced: int
) -> None:
    telegram.rate_limit(seconds)
    payload = {"chat_id": "@stopitnow", "text": "x"}

    limited = bot(telegram, http, "sendMessage", json=payload)
    after = bot(telegram, http, "sendMessage", json=payload)

    assert (limited.status_code, limited.json()) == (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": f"Too Many Requests: retry after {announced}",
            "parameters": {"retry_after": announced},
        },
    )
    assert after.status_code == 200


def test_telegram_migrated_group(telegram: FakeTelegram, http: httpx.Client) -> None:
    telegram.migrate(-4000000001, -1009999999999)

    old = bot(telegram, http, "sendMessage", json={"chat_id": -4000000001, "text": "x"})
    new = bot(telegram, http, "sendMessage", json={"chat_id": -1009999999999, "text": "x"})

    assert old.status_code == 400
    assert old.json()["ok"] is False
    assert old.json()["error_code"] == 400
    assert old.json()["parameters"] == {"migrate_to_chat_id": -1009999999999}
    assert new.json()["result"]["chat"]["type"] == "supergroup"


def test_telegram_unknown_chat_and_kicked_bot(telegram: FakeTelegram, http: httpx.Client) -> None:
    unknown = bot(telegram, http, "sendMessage", json={"chat_id": "@nobody", "text": "x"})
    telegram.kick("@stopitnow")
    kicked = bot(telegram, http, "sendMessage", json={"chat_id": "@stopitnow", "text": "x"})

    assert (unknown.status_code, unknown.json()) == (
        400,
        {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"},
    )
    assert (kicked.status_code, kicked.json()) == (
        403,
        {
            "ok": False,
            "error_code": 403,
            "description": "Forbidden: bot was kicked from the channel chat",
        },
    )


# --- Discord --------------------------------------------------------------------------


@pytest.fixture
def discord(clock: FrozenClock) -> Iterator[FakeDiscord]:
    with FakeDiscord(clock=clock) as fake:
        yield fake


def execute(fake: FakeDiscord, http: httpx.Client, wait: bool = True, **kwargs: object):  # type: ignore[no-untyped-def]
    params = {"wait": "true"} if wait else {}
    return http.post(fake.webhook_url, params=params, **kwargs)  # type: ignore[arg-type]


def test_discord_get_webhook(discord: FakeDiscord, http: httpx.Client) -> None:
    webhook = http.get(discord.webhook_url).json()
    assert {k: webhook[k] for k in ("id", "type", "guild_id", "channel_id", "name", "token")} == {
        "id": "1234567890123456789",
        "type": 1,
        "guild_id": "1111111111111111111",
        "channel_id": "2222222222222222222",
        "name": "Signpost",
        "token": "webhook-token",
    }


def test_discord_execute_with_wait(discord: FakeDiscord, http: httpx.Client) -> None:
    payload = {"content": "Helpline", "username": "Campaign", "allowed_mentions": {"parse": []}}

    first = execute(discord, http, json=payload)
    second = execute(discord, http, json=payload)  # no idempotency: a second message

    assert first.status_code == 200
    message = first.json()
    assert isinstance(message["id"], str) and message["id"].isdigit()
    assert message["channel_id"] == "2222222222222222222"
    assert (message["content"], message["author"]["username"]) == ("Helpline", "Campaign")
    assert int(message["id"]) >> 22 == int(START.timestamp() * 1000) - 1420070400000
    assert second.json()["id"] != message["id"]
    assert discord.messages == [message, second.json()]
    assert discord.message_url(message) == (
        f"https://discord.com/channels/1111111111111111111/2222222222222222222/{message['id']}"
    )
    assert discord.requests[0].json["allowed_mentions"] == {"parse": []}


def test_discord_execute_without_wait_says_nothing(
    discord: FakeDiscord, http: httpx.Client
) -> None:
    response = execute(discord, http, wait=False, json={"content": "x"})
    versioned = http.post(
        f"{discord.url}/api/v10/webhooks/{discord.webhook_id}/{discord.token}?wait=true",
        json={"content": "y"},
    )

    assert (response.status_code, response.content) == (204, b"")
    assert versioned.status_code == 200
    assert [m["content"] for m in discord.messages] == ["x", "y"]


def test_discord_image_with_alt_text(discord: FakeDiscord, http: httpx.Client) -> None:
    payload = {
        "content": "Poster",
        "attachments": [{"id": 0, "filename": "poster.png", "description": "Helpline poster"}],
    }
    response = execute(
        discord,
        http,
        data={"payload_json": json.dumps(payload)},
        files={"files[0]": ("poster.png", PNG, "image/png")},
    )

    assert response.status_code == 200
    [attachment] = response.json()["attachments"]
    assert (attachment["filename"], attachment["description"]) == (
        "poster.png",
        "Helpline poster",
    )
    assert discord.files[attachment["id"]].data == PNG


@pytest.mark.parametrize(
    ("content", "accepted"),
    [("a" * 2000, True), ("a" * 2001, False), ("😀" * 1000, True), ("😀" * 1001, False)],
)
def test_discord_content_limit(
    discord: FakeDiscord, http: httpx.Client, content: str, accepted: bool
) -> None:
    response = execute(discord, http, json={"content": content})

    if accepted:
        assert response.status_code == 200
    else:
        assert (response.status_code, response.json()) == (
            400,
            {
                "code": 50035,
                "message": "Invalid Form Body",
                "errors": {
                    "content": {
                        "_errors": [
                            {
                                "code": "BASE_TYPE_MAX_LENGTH",
                                "message": "Must be 2000 or fewer in length.",
                            }
                        ]
                    }
                },
            },
        )
        assert discord.messages == []


def test_discord_empty_message(discord: FakeDiscord, http: httpx.Client) -> None:
    response = execute(discord, http, json={"content": ""})
    assert (response.status_code, response.json()) == (
        400,
        {"code": 50006, "message": "Cannot send an empty message"},
    )


def test_discord_unknown_or_rejected_webhook(discord: FakeDiscord, http: httpx.Client) -> None:
    unknown_token = http.post(
        f"{discord.url}/api/webhooks/{discord.webhook_id}/other?wait=true", json={"content": "x"}
    )
    unknown_id = http.get(f"{discord.url}/api/webhooks/1/{discord.token}")
    discord.reject_token()
    rejected = execute(discord, http, json={"content": "x"})
    discord.restore_token()
    discord.delete_webhook()
    deleted = execute(discord, http, json={"content": "x"})

    unknown = (404, {"code": 10015, "message": "Unknown Webhook"})
    assert (unknown_token.status_code, unknown_token.json()) == unknown
    assert (unknown_id.status_code, unknown_id.json()) == unknown
    assert (deleted.status_code, deleted.json()) == unknown
    assert rejected.status_code == 401
    assert discord.messages == []


@pytest.mark.parametrize("is_global", [False, True])
def test_discord_rate_limit(
    discord: FakeDiscord, http: httpx.Client, clock: FrozenClock, is_global: bool
) -> None:
    discord.rate_limit(1.5, is_global=is_global)

    limited = execute(discord, http, json={"content": "x"})
    after = execute(discord, http, json={"content": "x"})

    assert limited.status_code == 429
    assert limited.json() == {
        "message": "You are being rate limited.",
        "retry_after": 1.5,
        "global": is_global,
    }
    assert limited.headers["retry-after"] == "2"
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert float(limited.headers["x-ratelimit-reset-after"]) == 1.5
    assert float(limited.headers["x-ratelimit-reset"]) == clock.now().timestamp() + 1.5
    assert limited.headers["x-ratelimit-bucket"]
    assert limited.headers["x-ratelimit-scope"] == ("global" if is_global else "user")
    assert limited.headers.get("x-ratelimit-global") == ("true" if is_global else None)
    assert after.status_code == 200


# --- Slack ----------------------------------------------------------------------------


@pytest.fixture
def slack(clock: FrozenClock) -> Iterator[FakeSlack]:
    channels = [
        SlackChannel("C0123456789", "general"),
        SlackChannel("C0ARCHIVED1", "old", archived=True),
        SlackChannel("C0OUTSIDE01", "private", member=False),
    ]
    with FakeSlack(channels=channels, clock=clock) as fake:
        yield fake


def api(
    fake: FakeSlack, http: httpx.Client, method: str, token: str = "xoxb-test", **kwargs: object
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}  # type: ignore[dict-item]
    return http.post(fake.api_url + method, headers=headers, **kwargs)  # type: ignore[arg-type]


def test_slack_incoming_webhook(slack: FakeSlack, http: httpx.Client) -> None:
    response = http.post(slack.webhook_url, json={"text": "Helpline", "blocks": []})
    malformed = http.post(
        slack.webhook_url, content=b"{nope", headers={"Content-Type": "application/json"}
    )

    assert (response.status_code, response.text) == (200, "ok")
    assert slack.webhook_posts == [{"text": "Helpline", "blocks": []}]
    assert (malformed.status_code, malformed.text) == (400, "invalid_payload")


@pytest.mark.parametrize(
    ("error", "status"),
    [
        ("invalid_payload", 400),
        ("action_prohibited", 403),
        ("channel_not_found", 404),
        ("channel_is_archived", 410),
        ("rollup_error", 500),
    ],
)
def test_slack_webhook_errors(
    slack: FakeSlack, http: httpx.Client, error: str, status: int
) -> None:
    slack.fail_webhook(error)
    response = http.post(slack.webhook_url, json={"text": "x"})
    assert (response.status_code, response.text) == (status, error)
    assert slack.webhook_posts == []


def test_slack_post_message_and_permalink(slack: FakeSlack, http: httpx.Client) -> None:
    posted = api(
        slack,
        http,
        "chat.postMessage",
        json={"channel": "C0123456789", "text": "Helpline"},
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    body = posted.json()
    link = http.get(
        slack.api_url + "chat.getPermalink",
        params={"channel": body["channel"], "message_ts": body["ts"]},
        headers={"Authorization": "Bearer xoxb-test"},
    ).json()

    assert posted.status_code == 200
    assert (body["ok"], body["channel"]) == (True, "C0123456789")
    assert re.fullmatch(r"\d{10}\.\d{6}", body["ts"])
    assert body["message"]["text"] == "Helpline"
    assert "warning" not in body
    digits = body["ts"].replace(".", "")
    assert link == {
        "ok": True,
        "channel": "C0123456789",
        "permalink": f"https://signpost.slack.com/archives/C0123456789/p{digits}",
    }


def test_slack_ts_are_unique_on_a_frozen_clock(slack: FakeSlack, http: httpx.Client) -> None:
    payload = {"channel": "#general", "text": "x"}
    bodies = [api(slack, http, "chat.postMessage", json=payload).json() for _ in range(3)]
    stamps = [body["ts"] for body in bodies]
    assert len(set(stamps)) == 3 and stamps == sorted(stamps)
    assert {body["channel"] for body in bodies} == {"C0123456789"}  # a name resolves to the id
    # httpx's json= sends no charset: Slack answers, with a warning (channels.md asks for one).
    assert bodies[0]["warning"] == "missing_charset"


@pytest.mark.parametrize(
    ("token", "payload", "error"),
    [
        ("xoxb-wrong", {"channel": "C0123456789", "text": "x"}, "invalid_auth"),
        ("", {"channel": "C0123456789", "text": "x"}, "not_authed"),
        ("xoxb-test", {"channel": "C0NOWHERE00", "text": "x"}, "channel_not_found"),
        ("xoxb-test", {"channel": "C0ARCHIVED1", "text": "x"}, "is_archived"),
        ("xoxb-test", {"channel": "C0OUTSIDE01", "text": "x"}, "not_in_channel"),
        ("xoxb-test", {"channel": "C0123456789", "text": ""}, "no_text"),
        ("xoxb-test", {"channel": "C0123456789", "text": "a" * 40_001}, "msg_too_long"),
    ],
)
def test_slack_failures_are_http_200(
    slack: FakeSlack, http: httpx.Client, token: str, payload: dict, error: str
) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = http.post(slack.api_url + "chat.postMessage", json=payload, headers=headers)

    assert (response.status_code, response.json()) == (200, {"ok": False, "error": error})
    assert slack.messages == []


def test_slack_long_text_at_the_limit_or_truncated(http: httpx.Client) -> None:
    payload = {"channel": "C0123456789", "text": "a" * 40_001}
    with FakeSlack() as rejecting:
        at_limit = api(rejecting, http, "chat.postMessage", json={**payload, "text": "a" * 40_000})
    with FakeSlack(long_text="truncate") as truncating:
        cut = api(truncating, http, "chat.postMessage", json=payload)

    assert at_limit.json()["ok"] is True
    assert cut.json()["ok"] is True
    assert len(cut.json()["message"]["text"]) == 40_000


def test_slack_rejected_token(slack: FakeSlack, http: httpx.Client) -> None:
    slack.reject_token()
    response = api(slack, http, "auth.test")
    assert (response.status_code, response.json()) == (200, {"ok": False, "error": "invalid_auth"})


def test_slack_rate_limit(slack: FakeSlack, http: httpx.Client) -> None:
    slack.rate_limit(30)
    payload = {"channel": "C0123456789", "text": "x"}

    limited = api(slack, http, "chat.postMessage", json=payload)
    after = api(slack, http, "chat.postMessage", json=payload)

    assert (limited.status_code, limited.json()) == (429, {"ok": False, "error": "ratelimited"})
    assert limited.headers["retry-after"] == "30"
    assert after.json()["ok"] is True
    assert len(slack.messages) == 1


def test_slack_auth_test(slack: FakeSlack, http: httpx.Client) -> None:
    body = api(slack, http, "auth.test").json()
    assert body["ok"] is True
    assert body["url"] == "https://signpost.slack.com/"
    assert {"team", "user", "user_id", "bot_id"} <= body.keys()


def test_slack_history_for_reconciling(
    slack: FakeSlack, http: httpx.Client, clock: FrozenClock
) -> None:
    def post(text: str) -> str:
        payload = {"channel": "C0123456789", "text": text}
        return api(slack, http, "chat.postMessage", json=payload).json()["ts"]

    since = post("before")
    clock.advance(timedelta(minutes=5))
    post("sp:1")
    slack.fail_api("internal_error", posted=True)  # "some aspect may have succeeded"
    failed = api(slack, http, "chat.postMessage", json={"channel": "C0123456789", "text": "sp:2"})

    history = http.get(
        slack.api_url + "conversations.history",
        params={"channel": "C0123456789", "oldest": since},
        headers={"Authorization": "Bearer xoxb-test"},
    ).json()

    assert failed.json() == {"ok": False, "error": "internal_error"}
    assert history["ok"] is True
    assert [m["text"] for m in history["messages"]] == ["sp:2", "sp:1"]  # newest first
