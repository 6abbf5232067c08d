"""The review page's routes through the ASGI test client, on real SQLite and PostgreSQL
(issue 12, DESIGN §11): sign-in, throttling, CSRF, approving and rejecting by the same rules
as the CLI, headers and cookies, and the audit trail of every action.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from scheduler.clock import FrozenClock
from scheduler.config import load
from scheduler.configfile import ConfigFile
from tests.conftest import ADD_CAMPAIGN, TEAM, Signpost, add_post, dump, team_config
from tests.database import TestDatabase
from tests.shared import TEXT, as_json, cli, clock  # noqa: F401  (fixtures)
from tests.webpage import Visitor, text_of, visiting

PASSWORDS = {
    "alice": "alice writes the posts",
    "bob": "bob checks every word",
    "carol": "carol holds every role",
    "dave": "dave is the second pair",
}


@pytest.fixture
def team(cli: Signpost) -> Signpost:  # noqa: F811
    """An initialised database with the campaign and everyone's password set."""
    assert cli("carol", "init").exit_code == 0
    assert cli("carol", *ADD_CAMPAIGN).exit_code == 0
    for name, password in PASSWORDS.items():
        result = cli(name, "users", "set-password", name, input=f"{password}\n")
        assert result.exit_code == 0, result.stderr
    return cli


def submitted(cli: Signpost, text: str = TEXT, actor: str = "alice") -> int:  # noqa: F811
    post = add_post(cli, text, "--channels", "newsroom,mastodon", actor=actor)
    assert cli(actor, "post", "submit", str(post["id"])).exit_code == 0
    return post["id"]


@pytest.fixture
def browser(team: Signpost, config_file: Path, clock: FrozenClock) -> Iterator[Visitor]:  # noqa: F811
    with visiting(config_file, clock) as visitor:
        yield visitor


def state_of(cli: Signpost, post_id: int) -> str:  # noqa: F811
    return as_json(cli("bob", "post", "show", str(post_id), "--format", "json"))["state"]


def events(cli: Signpost, post_id: int | None = None) -> list[dict]:  # noqa: F811
    args = ("audit", "export", "--format", "jsonl")
    lines = as_json_lines(cli("carol", *args))
    return [e for e in lines if post_id is None or e["subject"] == f"post:{post_id}"]


def as_json_lines(result) -> list[dict]:
    assert result.exit_code == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


# --- signing in ------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in_and_cannot_act(
    browser: Visitor, team: Signpost
) -> None:
    post_id = submitted(team)

    page = browser.get(f"/posts/{post_id}", follow=False)
    assert page.status_code == 303
    assert page.headers["location"] == f"/sign-in?next=/posts/{post_id}"
    for path in ("/queue", "/calendar", "/deliveries", f"/posts/{post_id}/images/0"):
        assert browser.get(path, follow=False).headers["location"].startswith("/sign-in")

    browser.get("/sign-in")  # a valid form token, but no one signed in
    refused = browser.submit(
        f"/posts/{post_id}/approve", revision="1", content_hash="x", follow=False
    )
    assert refused.status_code == 403
    assert "Sign in again: nothing was changed." in text_of(refused)
    assert state_of(team, post_id) == "submitted"


def test_a_wrong_password_is_refused_and_audited_without_the_password(
    browser: Visitor, team: Signpost
) -> None:
    page = browser.sign_in("bob", "not bob's password")

    assert page.status_code == 401
    assert "Wrong name or password." in text_of(page)
    assert browser.get("/queue", follow=False).status_code == 303  # still signed out
    refused = [e for e in events(team) if e["action"] == "web.sign_in_refused"]
    assert [(e["actor"], e["details"]["via"], e["details"]["address"]) for e in refused] == [
        ("bob", "web", "testclient")
    ]
    assert "not bob's password" not in json.dumps(events(team))


def test_an_unknown_name_gets_the_same_answer_as_a_wrong_password(browser: Visitor) -> None:
    page = browser.sign_in("mallory", PASSWORDS["bob"])

    assert page.status_code == 401
    assert "Wrong name or password." in text_of(page)


def test_sign_in_is_throttled_per_user_then_lets_them_in_after_the_window(
    browser: Visitor,
    team: Signpost,
    clock: FrozenClock,  # noqa: F811
) -> None:
    for _ in range(5):
        assert browser.sign_in("bob", "guess").status_code == 401

    blocked = browser.sign_in("bob", PASSWORDS["bob"])
    assert blocked.status_code == 429
    assert "Too many failed sign-ins. Try again in 15 minutes." in text_of(blocked)
    assert browser.get("/queue", follow=False).status_code == 303
    # Someone else at the same address is not locked out by bob's name.
    assert browser.sign_in("dave", PASSWORDS["dave"], next_page="/queue").status_code == 200

    clock.advance(timedelta(minutes=16))
    other = Visitor(browser.client.app)
    assert other.sign_in("bob", PASSWORDS["bob"], next_page="/queue").status_code == 200
    assert "Review queue" in text_of(other.last)


def test_signing_in_and_out_is_audited_and_ends_the_session(
    browser: Visitor, team: Signpost
) -> None:
    page = browser.sign_in("bob", PASSWORDS["bob"], next_page="/queue")
    assert page.status_code == 200
    assert "Signed in as bob" in text_of(page)

    assert browser.submit("/sign-out").url.path == "/sign-in"
    assert browser.get("/queue", follow=False).status_code == 303
    actions = [(e["actor"], e["action"]) for e in events(team) if e["action"].startswith("web.")]
    assert actions == [("bob", "web.sign_in"), ("bob", "web.sign_out")]


def test_a_session_expires_after_session_hours(
    browser: Visitor,
    clock: FrozenClock,  # noqa: F811
) -> None:
    browser.sign_in("bob", PASSWORDS["bob"])
    assert browser.get("/queue").status_code == 200

    clock.advance(timedelta(hours=8, minutes=1))

    page = browser.get("/queue", follow=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/sign-in?next=/queue"


def test_a_user_removed_from_the_config_is_signed_out_at_the_next_request(
    team: Signpost,
    config_file: Path,
    clock: FrozenClock,  # noqa: F811
    database: TestDatabase,
) -> None:
    with visiting(config_file, clock) as visitor:
        assert visitor.sign_in("dave", PASSWORDS["dave"], next_page="/queue").status_code == 200
        leaver = {name: roles for name, roles in TEAM.items() if name != "dave"}
        ConfigFile(database.url, users=leaver).write(config_file)
        visitor.ws.settings = load(config_file)  # what a restart or a reload of config does

        page = visitor.get("/queue", follow=False)

        assert page.status_code == 303
        assert visitor.sign_in("dave", PASSWORDS["dave"]).status_code == 401


# --- CSRF, headers, cookies ------------------------------------------------------------------


def test_a_form_without_the_sites_token_changes_nothing(browser: Visitor, team: Signpost) -> None:
    post_id = submitted(team)
    browser.sign_in("bob", PASSWORDS["bob"])
    before = state_of(team, post_id)

    forged = browser.client.post(
        f"/posts/{post_id}/approve", data={"revision": "1", "content_hash": "x"}
    )
    wrong = browser.client.post(
        f"/posts/{post_id}/approve",
        data={"revision": "1", "content_hash": "x", "csrftoken": "made-up"},
    )

    for response in (forged, wrong):
        assert response.status_code == 403
        assert "Form expired" in text_of(response)
        assert "Traceback" not in response.text
    assert state_of(team, post_id) == before == "submitted"


def test_sign_in_itself_needs_the_form_token(browser: Visitor) -> None:
    response = browser.client.post(
        "/sign-in", data={"username": "bob", "password": PASSWORDS["bob"]}
    )

    assert response.status_code == 403
    assert browser.get("/queue", follow=False).status_code == 303


def test_every_page_carries_the_security_headers_and_httponly_lax_cookies(
    browser: Visitor,
) -> None:
    page = browser.get("/sign-in")
    signed_in = browser.sign_in("bob", PASSWORDS["bob"], next_page="/queue")

    for response in (page, signed_in, browser.get("/nowhere")):
        assert response.headers["content-security-policy"] == (
            "default-src 'self'; frame-ancestors 'none'"
        )
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "<script" not in response.text
    cookies = browser.client.cookies
    assert {"signpost_session", "signpost_csrf"} <= set(cookies.keys())
    set_cookies = [h for r in signed_in.history for h in r.headers.get_list("set-cookie")]
    assert set_cookies, "signing in sets the session cookie"
    for header in set_cookies:
        assert "httponly" in header.lower()
        assert "samesite=lax" in header.lower()
        assert "secure" not in header.lower()  # base_url is not https here


def test_cookies_are_secure_when_base_url_is_https(
    team: Signpost,
    database: TestDatabase,
    tmp_path: Path,
    clock: FrozenClock,  # noqa: F811
) -> None:
    config = (
        team_config(database.url)
        .with_table("web", base_url="https://signpost.example.org")
        .write(tmp_path / "https.toml")
    )
    with visiting(config, clock, base_url="https://signpost.example.org") as visitor:
        form = visitor.get("/sign-in")
        page = visitor.sign_in("bob", PASSWORDS["bob"], next_page="/queue")
        headers = form.headers.get_list("set-cookie") + [
            h for r in page.history for h in r.headers.get_list("set-cookie")
        ]
        assert {h.split("=")[0] for h in headers} == {"signpost_csrf", "signpost_session"}
        for header in headers:
            assert "; secure" in header.lower()
            assert "httponly" in header.lower()


def test_error_pages_say_what_happened_without_a_traceback(browser: Visitor) -> None:
    browser.sign_in("bob", PASSWORDS["bob"])

    missing = browser.get("/posts/999")
    assert missing.status_code == 404
    assert "There is nothing at this address." in text_of(missing)
    assert browser.get("/posts/1/images/../../etc/passwd").status_code == 404
    assert "Traceback" not in missing.text


# --- reviewing -------------------------------------------------------------------------------


def test_the_queue_lists_what_awaits_me_soonest_due_first_in_the_campaigns_zone(
    browser: Visitor, team: Signpost
) -> None:
    later = submitted(team, f"Later post. {TEXT}")
    sooner = submitted(team, f"Sooner post. {TEXT}")
    unscheduled = submitted(team, f"Not scheduled. {TEXT}")
    for post_id, when in ((later, "2026-07-01 09:00"), (sooner, "2026-03-29 09:00")):
        result = team("alice", "post", "schedule", str(post_id), "--at", when)
        assert result.exit_code == 0, result.stderr
    browser.sign_in("bob", PASSWORDS["bob"])

    words = text_of(browser.get("/queue"))

    assert "3 posts await your review" in words
    assert words.index(f"Post {sooner}") < words.index(f"Post {later}")
    assert words.index(f"Post {later}") < words.index(f"Post {unscheduled}")
    assert "2026-03-29 09:00 BST" in words  # the campaign's wall clock, after the change
    assert "not scheduled" in words


def test_the_post_page_shows_each_channels_exact_text_and_the_revision_it_will_approve(
    browser: Visitor, team: Signpost
) -> None:
    post_id = submitted(team)
    shown = as_json(team("bob", "post", "preview", str(post_id), "--format", "json"))
    browser.sign_in("bob", PASSWORDS["bob"])

    page = browser.get(f"/posts/{post_id}")
    words = text_of(page)

    for card in shown["channels"]:
        assert f"{card['channel']} ({card['type']})" in words
        assert " ".join(card["text"].split()) in words
        if card["count"] is not None:
            assert f"{card['count']} of {card['limit']} {card['unit']}" in words
    assert f'name="content_hash" value="{shown["content_hash"]}"' in page.text
    assert "Approve revision 1" in words
    assert "alice post.submit" in words  # the audit trail


def test_approving_from_the_page_approves_the_revision_shown_and_is_audited(
    browser: Visitor, team: Signpost
) -> None:
    post_id = submitted(team)
    browser.sign_in("bob", PASSWORDS["bob"])
    browser.get(f"/posts/{post_id}")

    page = browser.submit(
        f"/posts/{post_id}/approve",
        revision="1",
        content_hash=browser.last.text.split('name="content_hash" value="')[1].split('"')[0],
        comment="Checked with the charity",
    )

    assert page.url.path == f"/posts/{post_id}"
    assert "You approved revision 1 of post" in text_of(page)
    assert state_of(team, post_id) == "approved"
    approval = [e for e in events(team, post_id) if e["action"] == "post.approve"]
    assert [(e["actor"], e["details"]["via"], e["details"]["address"]) for e in approval] == [
        ("bob", "web", "testclient")
    ]
    assert "bob approved revision 1" in text_of(page)
    assert "Nothing awaits your review" in text_of(browser.get("/queue"))


def review_form(browser: Visitor, post_id: int) -> dict[str, str]:
    """The hidden fields of the page's decision forms: what a browser would send."""
    text = browser.get(f"/posts/{post_id}").text
    return {
        "revision": text.split('name="revision" value="')[1].split('"')[0],
        "content_hash": text.split('name="content_hash" value="')[1].split('"')[0],
    }


def as_shown(cli: Signpost, post_id: int) -> dict[str, str]:  # noqa: F811
    """The revision and hash of the post now (for a form the page did not offer)."""
    shown = as_json(cli("bob", "post", "preview", str(post_id), "--format", "json"))
    return {"revision": str(shown["revision"]), "content_hash": shown["content_hash"]}


def test_rejecting_needs_a_comment_and_sends_the_post_back(
    browser: Visitor, team: Signpost
) -> None:
    post_id = submitted(team)
    browser.sign_in("bob", PASSWORDS["bob"])
    form = review_form(browser, post_id)

    empty = browser.submit(f"/posts/{post_id}/reject", **form, comment="  ")
    assert "Nothing was done: --comment: a rejection needs a reason" in text_of(empty)
    assert state_of(team, post_id) == "submitted"

    done = browser.submit(f"/posts/{post_id}/reject", **form, comment="Say 'confidential'.")
    assert "You rejected revision 1" in text_of(done)
    assert state_of(team, post_id) == "rejected"
    assert "bob rejected revision 1" in text_of(done)


def test_four_eyes_refuses_the_author_exactly_as_the_cli_does(
    browser: Visitor, team: Signpost
) -> None:
    post_id = submitted(team, actor="carol")  # carol may write and approve, not both at once
    cli_refusal = team("carol", "post", "approve", str(post_id), "--revision", "1")
    browser.sign_in("carol", PASSWORDS["carol"])
    form = as_shown(team, post_id)
    browser.get(f"/posts/{post_id}")
    assert "You wrote this post, so someone else must review it." in text_of(browser.last)
    assert f"Post {post_id}," not in text_of(browser.get("/queue"))

    browser.get(f"/posts/{post_id}")
    page = browser.submit(f"/posts/{post_id}/approve", **form)

    assert cli_refusal.exit_code == 3
    cli_words = cli_refusal.stderr.removeprefix("error: ").strip()
    assert f"Nothing was done: {cli_words}" in text_of(page)
    assert state_of(team, post_id) == "submitted"


def test_an_approval_of_a_post_changed_since_it_was_opened_is_refused_with_a_link(
    browser: Visitor, team: Signpost
) -> None:
    post_id = submitted(team)
    browser.sign_in("bob", PASSWORDS["bob"])
    form = review_form(browser, post_id)
    result = team("alice", "post", "edit", str(post_id), "--text", f"Edited. {TEXT}")
    assert result.exit_code == 0, result.stderr  # still submitted, now at revision 2
    before = [e["action"] for e in events(team, post_id)]

    page = browser.submit(f"/posts/{post_id}/approve", **form)

    words = text_of(page)
    assert f"Nothing was done: post {post_id} changed since you opened it." in words
    assert "It is now at revision 2" in words
    assert f'href="/posts/{post_id}"' in page.text
    assert "Approve revision 2" in words and "Edited." in words
    assert state_of(team, post_id) == "submitted"
    assert [e["action"] for e in events(team, post_id)] == before


def test_an_approver_without_the_campaigns_role_sees_no_buttons_and_is_refused(
    browser: Visitor, team: Signpost
) -> None:
    post_id = submitted(team)
    browser.sign_in("alice", PASSWORDS["alice"])  # an author, not an approver
    form = as_shown(team, post_id)
    assert "Approve revision" not in text_of(browser.get(f"/posts/{post_id}"))

    page = browser.submit(f"/posts/{post_id}/approve", **form)

    assert "Nothing was done:" in text_of(page)
    assert state_of(team, post_id) == "submitted"


# --- operations ------------------------------------------------------------------------------


def test_pausing_everything_needs_a_reason_and_shows_on_every_page(
    browser: Visitor, team: Signpost
) -> None:
    browser.sign_in("carol", PASSWORDS["carol"])
    browser.get("/deliveries")

    empty = browser.submit("/pause", reason=" ")
    assert "Nothing was done: --reason: say why" in text_of(empty)

    paused = browser.submit("/pause", reason="Story in the news: hold everything")
    assert "Publishing is paused everywhere" in text_of(paused)
    assert "Publishing is paused" in text_of(browser.get("/queue"))
    status = as_json(team("carol", "status", "--format", "json"))
    assert status["paused"], status

    browser.get("/deliveries")
    browser.submit("/resume")
    assert "Publishing is paused" not in text_of(browser.get("/queue"))
    kinds = [e["action"] for e in events(team) if e["details"].get("via") == "web"]
    assert kinds[-2:] == ["pause", "resume"] or {"pause", "resume"} <= {
        k.split(".")[-1] for k in kinds
    }


def test_only_admins_pause_from_the_page(browser: Visitor, team: Signpost) -> None:
    browser.sign_in("bob", PASSWORDS["bob"])

    page = browser.get("/deliveries")
    assert "Only administrators pause or resume publishing from this page." in text_of(page)
    assert "Pause everything" not in text_of(page)
    forced = browser.submit("/pause", reason="trying anyway")

    assert "Nothing was done: user 'bob' may not pause everything" in text_of(forced)
    assert not as_json(team("carol", "status", "--format", "json"))["paused"]


def test_nothing_in_the_database_or_pages_holds_a_password(
    browser: Visitor, team: Signpost, database: TestDatabase
) -> None:
    browser.sign_in("bob", PASSWORDS["bob"])
    pages = [browser.get(p).text for p in ("/queue", "/calendar", "/deliveries")]

    stored = "\n".join(dump(database))
    for password in PASSWORDS.values():
        assert password not in stored
        assert all(password not in page for page in pages)
    assert team("carol", "audit", "verify").exit_code == 0
