# ruff: noqa: F811  (the fixture clock, imported from tests.shared)
"""Issue 9's smaller things, as the people using them see them.

A rejected post says who rejected it and why; tables never show Python reprs; a calendar
"--to" date includes that day; a missed delivery says why; a campaign can be edited.
"""

from __future__ import annotations

import json
import random
from datetime import timedelta
from pathlib import Path

import pytest

from posts.store import Store
from scheduler.clock import FrozenClock
from scheduler.config import DaemonSettings, load
from scheduler.delivery import Engine
from tests.conftest import HELPLINE, Signpost, add_post, dump
from tests.database import TestDatabase
from tests.shared import clock, on_clock, schedule_post  # noqa: F401
from tests.test_engine import FakeChannel, raises

TEXT = f"Worried about what you look at online? Confidential help: {HELPLINE}."
COMMENT = "Say 'confidential' in the first line"


@pytest.fixture
def at(signpost: Signpost, campaign: str, clock: FrozenClock) -> Signpost:
    """The CLI, with the stop-it-now campaign, on the frozen clock (at tests.shared.NOW)."""
    return on_clock(signpost, clock)


def ok(result, exit_code: int = 0):
    assert result.exit_code == exit_code, (result.stdout, result.stderr, result.exception)
    return result


def lines(text: str) -> list[str]:
    """Table output without its borders and with runs of spaces squeezed, to compare exactly."""
    rows = (" ".join(line.translate(BORDERS).split()) for line in text.splitlines())
    return [row for row in rows if row]


BORDERS = str.maketrans(dict.fromkeys("│┃┏┓┗┛┡┩└┘┳┻╇┴━─", " "))


def submitted(at: Signpost, *extra: str) -> dict:
    post = add_post(at, TEXT, *extra)
    ok(at("alice", "post", "submit", str(post["id"])))
    return post


def rejected(at: Signpost, *extra: str) -> dict:
    post = submitted(at, *extra)
    ok(at("bob", "post", "reject", str(post["id"]), "--revision", "1", "--comment", COMMENT))
    return post


# --- 1. post show: the rejection, and a variant per line --------------------------------------


def test_post_show_says_who_rejected_it_when_and_why(at: Signpost, clock: FrozenClock):
    post = rejected(
        at,
        "--variant",
        f"mastodon=Confidential help, Mastodon: {HELPLINE}",
        "--variant",
        f"bluesky=Confidential help: {HELPLINE}",
    )
    shown = ok(at("alice", "post", "show", str(post["id"])))
    table = lines(shown.stdout)
    state = table.index("state rejected")
    assert table[state + 1] == f"rejection by bob at 2026-03-01 12:00 UTC (revision 1): {COMMENT}"
    assert f"variants bluesky: Confidential help: {HELPLINE}" in lines(shown.stdout)
    assert f"mastodon: Confidential help, Mastodon: {HELPLINE}" in lines(shown.stdout)
    assert "{" not in shown.stdout and "'" not in shown.stdout.replace(COMMENT, "")

    as_json = json.loads(ok(at("alice", "post", "show", str(post["id"]), "-f", "json")).stdout)
    assert as_json["rejection"] == {
        "by": "bob",
        "at": "2026-03-01T12:00:00+00:00",
        "comment": COMMENT,
        "revision": 1,
    }
    assert as_json["variants"] == {
        "mastodon": f"Confidential help, Mastodon: {HELPLINE}",
        "bluesky": f"Confidential help: {HELPLINE}",
    }

    # After the author's edit the post is a draft again; the comment they acted on stays.
    clock.advance(timedelta(hours=1))
    ok(at("alice", "post", "edit", str(post["id"]), "--text", f"Confidential help: {HELPLINE}"))
    again = json.loads(ok(at("alice", "post", "show", str(post["id"]), "-f", "json")).stdout)
    assert (again["state"], again["revision"]) == ("draft", 2)
    assert again["rejection"]["revision"] == 1
    assert f"rejection by bob at 2026-03-01 12:00 UTC (revision 1): {COMMENT}" in lines(
        ok(at("alice", "post", "show", str(post["id"]))).stdout
    )


def test_the_latest_of_two_rejections_is_shown(at: Signpost, clock: FrozenClock):
    post = rejected(at)
    clock.advance(timedelta(days=1))
    ok(at("alice", "post", "edit", str(post["id"]), "--text", f"Confidential help: {HELPLINE}"))
    ok(at("alice", "post", "submit", str(post["id"])))
    ok(
        at(
            "dave",
            "post",
            "reject",
            str(post["id"]),
            "--revision",
            "2",
            "--comment",
            "Too short now",
        )
    )
    shown = json.loads(ok(at("alice", "post", "show", str(post["id"]), "-f", "json")).stdout)
    assert shown["rejection"] == {
        "by": "dave",
        "at": "2026-03-02T12:00:00+00:00",
        "comment": "Too short now",
        "revision": 2,
    }


def test_a_post_never_rejected_has_no_rejection(at: Signpost):
    post = submitted(at)
    shown = ok(at("bob", "post", "show", str(post["id"])))
    assert not any(line.startswith("rejection") for line in lines(shown.stdout))
    assert "variants" in shown.stdout and "None" not in shown.stdout
    as_json = json.loads(ok(at("bob", "post", "show", str(post["id"]), "-f", "json")).stdout)
    assert as_json["rejection"] is None


# --- 2. tables are for people -----------------------------------------------------------------


def test_campaign_show_and_status_tables_have_no_python_reprs(at: Signpost):
    submitted(at)
    add_post(at, TEXT)
    shown = ok(at("bob", "campaign", "show", "stop-it-now"))
    table = lines(shown.stdout)
    assert "forbidden kiddie porn" in table
    assert "paedo" in table  # the second term on its own line
    assert "must_include 0808 1000 900" in table
    assert "utm utm_medium: social" in table
    assert "utm_campaign: stop-it-now" in table
    assert "posts draft: 1" in table
    assert "submitted: 1" in table
    assert "paused no" in table
    assert "approver_roles approver" in table
    for repr_mark in ("[", "{", "'", "None", "PostState", "True", "False"):
        assert repr_mark not in shown.stdout, repr_mark

    status = ok(at("bob", "status"))
    assert "posts draft 1" in lines(status.stdout)
    assert "channels bluesky, feed, mastodon, newsroom, telegram, x" in lines(status.stdout)
    for repr_mark in ("[", "{", "None", "PostState"):
        assert repr_mark not in status.stdout, repr_mark

    # JSON is unchanged: real lists, objects and nulls.
    data = json.loads(ok(at("bob", "campaign", "show", "stop-it-now", "-f", "json")).stdout)
    assert data["forbidden"] == ["kiddie porn", "paedo"]
    assert data["posts"] == {"draft": 1, "submitted": 1}
    assert data["starts"] is None and data["paused"] is False


def test_listing_cells_are_one_readable_line_and_never_markup(at: Signpost):
    post = add_post(at, f"[bold]Not bold[/bold] {{'a': 1}} {TEXT}")
    ok(at("alice", "post", "submit", str(post["id"])))
    listed = ok(at("bob", "post", "list"))
    assert "[bold]Not bold[/bold] {'a': 1} Worried about what you" in listed.stdout
    log = ok(at("bob", "audit", "log", "--post", str(post["id"])))
    rows = lines(log.stdout)  # details as "key: value", not a dict repr
    assert rows[0] == "seq time actor action subject details"
    assert rows[1].startswith(
        "3 2026-03-01T12:00:00.000000+00:00 alice post.add post:1 campaign: stop-it-now, "
    )
    assert rows[2] == (
        "4 2026-03-01T12:00:00.000000+00:00 alice post.submit post:1 from: draft, to: submitted"
    )


# --- 3. calendar --to a day includes that day ------------------------------------------------


def scheduled(at: Signpost, *times: str) -> None:
    """A post per time, scheduled to the feed (held: the calendar shows it all the same)."""
    for when in times:
        post = add_post(at, TEXT)
        ok(at("alice", "post", "schedule", str(post["id"]), "--at", when, "--channels", "feed"))


def calendar_dues(at: Signpost, *args: str) -> list[str]:
    result = ok(at("bob", "calendar", *args, "--format", "json"))
    return [r["due_local"] for r in json.loads(result.stdout)]


def test_calendar_to_a_date_includes_that_whole_day(at: Signpost):
    scheduled(at, "2026-03-07 23:59", "2026-03-08 00:00", "2026-03-08 23:30", "2026-03-09 00:00")
    assert calendar_dues(at, "--from", "2026-03-07", "--to", "2026-03-08") == [
        "2026-03-07 23:59 GMT",
        "2026-03-08 00:00 GMT",
        "2026-03-08 23:30 GMT",
    ]
    # One day, from and to the same date.
    assert calendar_dues(at, "--from", "2026-03-08", "--to", "2026-03-08") == [
        "2026-03-08 00:00 GMT",
        "2026-03-08 23:30 GMT",
    ]
    # A time stays the end itself, not included.
    assert calendar_dues(at, "--from", "2026-03-07", "--to", "2026-03-08 23:30") == [
        "2026-03-07 23:59 GMT",
        "2026-03-08 00:00 GMT",
    ]
    before = ok(at("bob", "calendar", "--from", "2026-03-09", "--to", "2026-03-08"), 1)
    assert before.stderr == "error: --to must be after --from\n"
    bad = ok(at("bob", "calendar", "--to", "2026-02-30"), 1)
    assert "--to '2026-02-30': expected" in bad.stderr
    assert "a date includes all of it" in " ".join(
        ok(at(None, "calendar", "--help")).stdout.split()
    )


def test_calendar_to_a_date_ends_at_local_midnight_in_summer(at: Signpost):
    # Europe/London is on BST in July: the 8th ends at 23:00 UTC, not 00:00 UTC.
    scheduled(at, "2026-07-08 23:30", "2026-07-09 00:30")
    assert calendar_dues(at, "--from", "2026-07-08", "--to", "2026-07-08") == [
        "2026-07-08 23:30 BST"
    ]


def test_html_export_shows_the_to_day_as_its_last(at: Signpost, tmp_path: Path):
    scheduled(at, "2026-03-08 18:00")
    page = tmp_path / "week.html"
    args = ("--from", "2026-03-02", "--to", "2026-03-08", "-f", "html", "-o", str(page))
    ok(at("bob", "calendar", *args))
    html = page.read_text(encoding="utf-8")
    assert "<p>02 Mar 2026 to 08 Mar 2026, times in Europe/London; 1 deliveries.</p>" in html
    assert '<td><h3>Sun 08 Mar</h3><ul><li class="s-held"' in html


# --- 4. a missed delivery says why ------------------------------------------------------------


@pytest.fixture
def engine(config_file: Path, campaign: str, clock: FrozenClock):
    store = Store(load(config_file).database_url)
    hook = FakeChannel("newsroom")
    yield (
        Engine(
            store=store,
            settings=DaemonSettings(grace=timedelta(minutes=15), retry_base=timedelta(seconds=30)),
            clock=clock,
            channels={"newsroom": hook},
            owner="daemon:test",
            rng=random.Random(7),
            workers=1,
        ),
        hook,
    )
    store.close()


def schedule_approved(at: Signpost, when: str, *extra: str) -> int:
    post = submitted(at)
    ok(at("bob", "post", "approve", str(post["id"]), "--revision", "1"))
    result = ok(schedule_post(at, post["id"], when, "newsroom", *extra))
    return json.loads(result.stdout)["deliveries"][0]["id"]


def last_errors(at: Signpost, db: TestDatabase) -> tuple[dict[int, str], str, list]:
    listed = json.loads(ok(at("bob", "deliveries", "list", "-f", "json")).stdout)
    table = ok(at("bob", "deliveries", "list")).stdout
    stored = db.execute("SELECT id, state, last_error FROM delivery ORDER BY id")
    return {r["id"]: r["last_error"] for r in listed}, table, stored


def test_a_missed_delivery_says_why_in_its_last_error(at, engine, clock, db_path):
    tick, _hook = engine
    late = schedule_approved(at, "+1m")
    clock.advance(timedelta(minutes=17))  # 16 minutes late, grace 15
    assert tick.tick().missed == 1
    why = f"missed: more than 15m late, not sent (retry with: signpost deliveries retry {late})"
    errors, table, stored = last_errors(at, db_path)
    assert errors == {late: why}
    assert stored == [(late, "missed", why)]
    assert "missed: more than 15m late, not sent" in table
    events = json.loads(ok(at("bob", "audit", "log", "-f", "json")).stdout)
    assert [e["details"]["reason"] for e in events if e["action"] == "delivery.missed"] == [
        "more than 15m late"
    ]


def test_a_missed_delivery_keeps_the_error_of_its_last_try(at, engine, clock, db_path):
    tick, hook = engine
    expiring = schedule_approved(at, "+1m", "--expires", "+5m")
    hook.script.append(raises(_transient()))
    clock.advance(timedelta(minutes=1))
    assert tick.tick().retrying == 1
    clock.advance(timedelta(minutes=10))  # the retry would come after its expiry
    assert tick.tick().failed == 1  # it had started: retried until its expiry, then failed
    why = (
        "failed: past its expiry 2026-03-01T12:05+00:00, not sent (retry with: signpost"
        f" deliveries retry {expiring}); last error: newsroom: server error 503"
    )
    errors, table, stored = last_errors(at, db_path)
    assert errors == {expiring: why}
    assert stored == [(expiring, "failed", why)]
    assert "failed: past its expiry 2026-03-01T12:05+00:0" in table
    [missed] = [
        e
        for e in json.loads(ok(at("bob", "audit", "log", "-f", "json")).stdout)
        if e["action"] == "delivery.failed"
    ]
    assert missed["details"]["last_error"] == "newsroom: server error 503"

    # Retried by a person and missed again: the reason is new, the old error is not nested.
    ok(at("alice", "deliveries", "retry", str(expiring), "--at", "+1m"))
    clock.advance(timedelta(minutes=20))
    hook.script.clear()
    assert tick.tick().missed == 1
    errors, _table, _stored = last_errors(at, db_path)
    assert errors[expiring] == (
        f"missed: more than 15m late, not sent (retry with: signpost deliveries retry {expiring})"
        "; last error: newsroom: server error 503"
    )


def _transient():
    from channels.base import TransientError

    return TransientError("newsroom: server error 503", retry_after=600)


# --- 5. campaign edit -------------------------------------------------------------------------


def test_campaign_edit_changes_name_days_and_rules_and_audits_them(at: Signpost, db_path):
    edited = ok(
        at(
            "carol",
            "campaign",
            "edit",
            "stop-it-now",
            "--name",
            "Stop It Now!",
            "--start",
            "2026-12-01",
            "--end",
            "2027-01-31",
            "--must-include",
            f"{HELPLINE}|stopitnow.org.uk",
            "--link-domain",
            "www.StopItNow.org.uk",
            "--link-domain",
            "lucyfaithfull.org.uk",
            "-f",
            "json",
        )
    )
    assert (
        edited.stderr
        == "campaign stop-it-now: changed name, starts, ends, must_include, link_domains\n"
    )
    data = json.loads(edited.stdout)
    assert (data["name"], data["starts"], data["ends"]) == (
        "Stop It Now!",
        "2026-12-01",
        "2027-01-31",
    )
    assert data["must_include"] == [f"{HELPLINE}|stopitnow.org.uk"]
    assert data["link_domains"] == ["stopitnow.org.uk", "lucyfaithfull.org.uk"]
    assert data["forbidden"] == ["kiddie porn", "paedo"]  # not mentioned: unchanged

    [(actor, details)] = db_path.execute(
        "SELECT actor, details FROM audit_event WHERE action = 'campaign.edit'"
    )
    assert actor == "carol"
    assert json.loads(details) == {
        "before": {
            "name": "Stop It Now",
            "starts": None,
            "ends": None,
            "must_include": [HELPLINE],
            "link_domains": ["stopitnow.org.uk"],
        },
        "after": {
            "name": "Stop It Now!",
            "starts": "2026-12-01",
            "ends": "2027-01-31",
            "must_include": [f"{HELPLINE}|stopitnow.org.uk"],
            "link_domains": ["stopitnow.org.uk", "lucyfaithfull.org.uk"],
        },
    }

    cleared = ok(
        at(
            "alice",
            "campaign",
            "edit",
            "stop-it-now",
            "--no-forbid",
            "--no-end",
            "--tz",
            "Europe/Dublin",
        )
    )
    assert cleared.stderr == "campaign stop-it-now: changed tz, ends, forbidden\n"
    shown = json.loads(ok(at("bob", "campaign", "show", "stop-it-now", "-f", "json")).stdout)
    assert (shown["tz"], shown["ends"], shown["forbidden"]) == ("Europe/Dublin", None, [])
    assert ok(at("bob", "audit", "verify")).exit_code == 0


@pytest.mark.parametrize(
    ("actor", "args", "exit_code", "error"),
    [
        (
            "bob",
            ["--name", "X"],
            3,
            "user 'bob' may not edit campaigns: needs the role author or admin",
        ),
        ("mallory", ["--name", "X"], 3, "user 'mallory' is not in the config's [users]"),
        (
            "carol",
            [],
            1,
            "campaign stop-it-now: nothing to change (give --name, --tz, --start, --end or a"
            " content rule)",
        ),
        (
            "carol",
            ["--name", "Stop It Now"],
            1,
            "campaign stop-it-now: nothing to change (the values given are the ones it has)",
        ),
        (
            "carol",
            ["--start", "2026-12-01", "--end", "2026-11-30"],
            1,
            "--end 2026-11-30 is before --start 2026-12-01",
        ),
        (
            "carol",
            ["--tz", "Europe"],
            1,
            "--tz: unknown time zone 'Europe' (expected e.g. Europe/London)",
        ),
        ("carol", ["--name", "  "], 1, "--name: expected the campaign's name, got an empty text"),
        ("carol", ["--start", "1 Dec"], 1, "--start '1 Dec': expected a date as YYYY-MM-DD"),
        (
            "carol",
            ["--forbid", "x", "--no-forbid"],
            1,
            "give either --forbid or --no-forbid, not both",
        ),
        (
            "carol",
            ["--link-domain", "x.org", "--no-link-domains"],
            1,
            "give either --link-domain or --no-link-domains, not both",
        ),
    ],
    ids=[
        "approver",
        "unknown user",
        "no options",
        "same name",
        "end before start",
        "bad zone",
        "empty name",
        "bad date",
        "forbid and not",
        "domains and not",
    ],
)
def test_campaign_edit_refuses_and_changes_nothing(
    at: Signpost, db_path, actor, args, exit_code, error
):
    before = dump(db_path)
    result = ok(at(actor, "campaign", "edit", "stop-it-now", *args), exit_code)
    assert result.stderr.startswith(f"error: {error}"), result.stderr
    assert result.stdout == ""
    assert dump(db_path) == before


def test_campaign_edit_end_before_the_existing_start_is_refused(at: Signpost, db_path):
    ok(at("carol", "campaign", "edit", "stop-it-now", "--start", "2026-12-01"))
    before = dump(db_path)
    refused = ok(at("carol", "campaign", "edit", "stop-it-now", "--end", "2026-11-30"), 1)
    assert refused.stderr == "error: --end 2026-11-30 is before --start 2026-12-01\n"
    assert dump(db_path) == before
    assert ok(at("carol", "campaign", "edit", "no-such", "--name", "X"), 1).stderr == (
        "error: no campaign 'no-such' (see 'signpost campaign list')\n"
    )


def test_new_rules_leave_approvals_alone_but_say_what_breaks_them(at: Signpost, clock, db_path):
    post = submitted(at)
    ok(at("bob", "post", "approve", str(post["id"]), "--revision", "1"))
    waiting = add_post(at, TEXT)
    ok(at("alice", "post", "submit", str(waiting["id"])))
    ok(schedule_post(at, post["id"], "2026-03-20 09:00", "feed"))

    edited = ok(
        at("carol", "campaign", "edit", "stop-it-now", "--forbid", "online", "--end", "2026-03-15")
    )
    assert edited.stderr.splitlines() == [
        "campaign stop-it-now: changed ends, forbidden",
        f"note: 2 submitted or approved post(s) break the campaign's rules now and keep their"
        f" approvals and deliveries: {post['id']}, {waiting['id']} (see 'signpost post check"
        " ID'; edit or cancel them)",
        "note: 1 waiting delivery(ies) fall outside the campaign's days and will still go out:"
        " 1 (see 'signpost deliveries list')",
    ]
    shown = json.loads(ok(at("bob", "post", "show", str(post["id"]), "-f", "json")).stdout)
    assert (shown["state"], shown["approvals"]) == ("approved", ["bob"])
    [(state,)] = db_path.execute("SELECT state FROM delivery")
    assert state == "pending"
    # The next approval checks the new rules.
    refused = ok(at("bob", "post", "approve", str(waiting["id"]), "--revision", "1"), 3)
    assert "forbidden term" in refused.stderr


def test_campaign_edit_is_in_help_and_docs():
    from typer.testing import CliRunner

    from scheduler.cli import app

    shown = CliRunner().invoke(app, ["campaign", "edit", "--help"])
    assert shown.exit_code == 0
    for option in ("--no-must-include", "--no-forbid", "--no-link-domains", "--no-end"):
        assert option in shown.stdout
    docs = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text()
    assert "`signpost campaign edit SLUG" in docs


def test_campaign_list_says_which_campaigns_a_pause_holds_back(signpost: Signpost, campaign: str):
    """`paused` comes from the pause table: the campaign's own pause, or one of everything."""
    assert signpost("carol", "campaign", "add", "other", "--name", "Other").exit_code == 0

    def paused() -> dict[str, bool]:
        listed = signpost("bob", "campaign", "list", "--format", "json")
        return {c["slug"]: c["paused"] for c in json.loads(listed.stdout)}

    assert paused() == {campaign: False, "other": False}
    held = signpost("carol", "pause", "--campaign", campaign, "--reason", "news event")
    assert held.exit_code == 0, held.stderr
    assert paused() == {campaign: True, "other": False}
    assert signpost("carol", "pause", "--reason", "incident").exit_code == 0
    assert paused() == {campaign: True, "other": True}
    assert signpost("carol", "resume").exit_code == 0
    assert signpost("carol", "resume", "--campaign", campaign).exit_code == 0
    assert paused() == {campaign: False, "other": False}
