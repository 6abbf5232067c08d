"""`signpost post import`: a spreadsheet of posts, every row or none."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from scheduler.clock import FrozenClock
from tests.conftest import HELPLINE, Signpost, dump
from tests.shared import NOW, on_clock


@pytest.fixture
def at(signpost: Signpost) -> Signpost:
    """The CLI with the clock frozen at NOW."""
    return on_clock(signpost, FrozenClock(NOW))


def write(path: Path, header: list[str], rows: list[list[str]], bom: bool = False) -> Path:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_every_problem_of_every_row_at_once_and_nothing_imported(at, campaign, tmp_path, db_path):
    sheet = write(
        tmp_path / "plan.csv",
        ["text", "at", "channels", "link"],
        [
            [f"Fine: {HELPLINE}", "2026-03-10 09:00", "newsroom", ""],  # row 2: good
            [f"Bad date: {HELPLINE}", "10/03/2026", "newsroom", ""],  # row 3
            [f"Unknown channel: {HELPLINE}", "2026-03-10 09:00", "myspace", ""],  # row 4
            ["No helpline here", "2026-03-10 09:00", "newsroom", ""],  # row 5
            [f"{HELPLINE} " + "long " * 70, "2026-03-10 09:00", "bluesky", ""],  # row 6
            [f"Gap: {HELPLINE}", "2026-03-29 01:30", "newsroom", ""],  # row 7
            [f"Past: {HELPLINE}", "2026-02-01 09:00", "feed", "https://evil.example/x"],  # row 8
        ],
    )
    before = dump(db_path)
    result = at("alice", "post", "import", str(sheet), "--campaign", campaign)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[-1] == f"error: {sheet}: 7 problem(s); nothing was imported"
    problems = lines[:-1]
    assert problems[0].startswith("row 3, column at: '10/03/2026': expected")
    assert problems[1] == (
        "row 4, column channels: no channel named 'myspace' (configured: "
        "bluesky, feed, mastodon, newsroom, telegram, x)"
    )
    assert problems[2] == f"row 5, column text: must include '{HELPLINE}'"
    assert problems[3].startswith("row 6, column text: too long for bluesky (bluesky)")
    assert problems[4].startswith("row 7, column at: '2026-03-29 01:30' does not exist in")
    assert problems[5] == "row 8, column at: 2026-02-01 09:00 is in the past"
    assert problems[6].startswith("row 8, column text: links to evil.example")
    assert dump(db_path) == before


def test_a_good_sheet_imports_drafts_with_held_deliveries(at, campaign, tmp_path, signpost):
    image = tmp_path / "card.png"
    image.write_bytes(b"\x89PNG fake but readable")
    sheet = write(
        tmp_path / "plan.csv",
        ["Channels", "At", "Text", "variant:feed", "image", "alt", "expires"],
        [
            [
                "newsroom;feed",
                "2026-03-10 09:00",
                f"First: {HELPLINE}",
                f"Feed: {HELPLINE}",
                "card.png",
                "Helpline card",
                "2026-03-10 19:00",
            ],
            ["feed", "2026-04-10 09:00", f"Second: {HELPLINE}", "", "", "", ""],
        ],
        bom=True,
    )
    dry = at(
        "alice",
        "post",
        "import",
        str(sheet),
        "--campaign",
        campaign,
        "--dry-run",
        "--format",
        "json",
    )
    assert dry.exit_code == 0, dry.stderr
    assert json.loads(dry.stdout)["posts"] == 2
    assert json.loads(signpost("bob", "post", "list", "--format", "json").stdout) == []

    done = at("alice", "post", "import", str(sheet), "--campaign", campaign, "--format", "json")
    assert done.exit_code == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["posts"], summary["deliveries"]) == (2, 3)
    posts = json.loads(signpost("bob", "post", "list", "--format", "json").stdout)
    assert {p["state"] for p in posts} == {"draft"}
    first = json.loads(
        signpost("bob", "post", "show", str(summary["ids"][0]), "--format", "json").stdout
    )
    assert first["variants"] == {"feed": f"Feed: {HELPLINE}"}
    assert first["media"][0]["alt"] == "Helpline card"
    deliveries = json.loads(signpost("bob", "deliveries", "list", "--format", "json").stdout)
    assert {d["state"] for d in deliveries} == {"held"}
    due = {d["due"] for d in deliveries}
    assert due == {"2026-03-10T09:00:00+00:00", "2026-04-10T08:00:00+00:00"}  # GMT, then BST
    assert {d["expires"] for d in deliveries if d["post"] == first["id"]} == {
        "2026-03-10T19:00:00+00:00"
    }


def test_submit_sends_them_for_approval(at, campaign, tmp_path, signpost):
    sheet = write(
        tmp_path / "plan.csv",
        ["text", "at", "channels"],
        [[f"Help: {HELPLINE}", "2026-03-10 09:00", "newsroom"]],
    )
    assert (
        at("alice", "post", "import", str(sheet), "--campaign", campaign, "--submit").exit_code == 0
    )
    [post] = json.loads(signpost("bob", "post", "list", "--format", "json").stdout)
    assert post["state"] == "submitted"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("text,channels\nx,newsroom\n", "row 1, column at: required column missing"),
        ("text,at,channels,colour\n", "row 1, column colour: unknown column"),
        ("text,at,channels\n", "row 2: the file has a header but no rows"),
        ("", "empty file; expected a header row with text, at, channels"),
    ],
)
def test_malformed_sheets(at, campaign, tmp_path, db_path, content, message):
    sheet = tmp_path / "plan.csv"
    sheet.write_text(content, encoding="utf-8")
    before = dump(db_path)
    result = at("alice", "post", "import", str(sheet), "--campaign", campaign)
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert dump(db_path) == before


def test_rows_name_their_own_campaign(at, initialised, tmp_path):
    sheet = write(
        tmp_path / "plan.csv",
        ["text", "at", "channels", "campaign"],
        [
            ["Help", "2026-03-10 09:00", "newsroom", "nope"],
            ["Help", "2026-03-10 09:00", "newsroom", ""],
        ],
    )
    result = at("alice", "post", "import", str(sheet))
    assert "row 2, column campaign: no campaign 'nope'" in result.stderr
    assert "row 3, column campaign: empty, and no --campaign given" in result.stderr


def test_an_imported_link_meets_the_same_check_as_post_add(at, campaign, tmp_path, db_path):
    """A link `post add` and `post edit` would refuse is refused in a sheet too, so an
    imported post can never hold content a later edit could not keep."""
    sheet = write(
        tmp_path / "plan.csv",
        ["text", "at", "channels", "link"],
        [[f"Help: {HELPLINE}", "2026-03-10 09:00", "newsroom", "http://localhost/help"]],
    )
    before = dump(db_path)
    result = at("alice", "post", "import", str(sheet), "--campaign", campaign)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "row 2, column link: 'http://localhost/help': expected an http(s) URL such as"
        " https://www.stopitnow.org.uk/"
    )
    assert dump(db_path) == before
    added = at(
        "alice",
        "post",
        "add",
        "--campaign",
        campaign,
        "--text",
        f"Help: {HELPLINE}",
        "--link",
        "http://localhost/help",
    )
    assert added.exit_code == 1
    assert "--link 'http://localhost/help': expected an http(s) URL" in added.stderr
