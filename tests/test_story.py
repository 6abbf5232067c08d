"""The foundation's story end to end: alice writes, bob approves, the audit log proves it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import HELPLINE, Signpost, add_post
from tests.database import TestDatabase

TEXT = f"Worried about what you look at online? Confidential help: {HELPLINE}."


def test_draft_to_approved_by_a_second_person(
    signpost: Signpost, campaign: str, db_path: TestDatabase
):
    post = add_post(signpost, TEXT, "--link", "https://www.stopitnow.org.uk/")
    assert post["state"] == "draft"
    assert post["author"] == "alice"
    assert post["revision"] == 1
    assert len(post["content_hash"]) == 64

    check = signpost("alice", "post", "check", str(post["id"]))
    assert check.exit_code == 0, check.stdout
    assert "no problems" in check.stderr

    submitted = signpost("alice", "post", "submit", str(post["id"]), "--format", "json")
    assert submitted.exit_code == 0, submitted.stderr
    assert json.loads(submitted.stdout)["state"] == "submitted"

    approved = signpost(
        "bob",
        "post",
        "approve",
        str(post["id"]),
        "--revision",
        "1",
        "--comment",
        "ok",
        "--format",
        "json",
    )
    assert approved.exit_code == 0, approved.stderr
    shown = json.loads(approved.stdout)
    assert shown["state"] == "approved"
    assert shown["approvals"] == ["bob"]

    rows = db_path.execute(
        "SELECT approver, decision, content_hash FROM approval WHERE post_id = :post",
        {"post": post["id"]},
    )
    assert rows == [("bob", "approve", post["content_hash"])]

    log = signpost("bob", "audit", "log", "--post", str(post["id"]), "--format", "json")
    events = json.loads(log.stdout)
    assert [(e["actor"], e["action"]) for e in events] == [
        ("alice", "post.add"),
        ("alice", "post.submit"),
        ("bob", "post.approve"),
    ]
    assert events[0]["details"]["text"] == TEXT
    assert events[2]["details"]["content_hash"] == post["content_hash"]

    verify = signpost("bob", "audit", "verify")
    assert verify.exit_code == 0
    assert verify.stdout.startswith("audit log OK: 5 events")  # init, campaign, 3 post events


def test_listing_and_showing_pipe_as_json(signpost: Signpost, campaign: str):
    first = add_post(signpost, TEXT)
    second = add_post(signpost, TEXT + " Second.")
    listed = signpost("bob", "post", "list", "--format", "json")
    assert listed.exit_code == 0
    assert [p["id"] for p in json.loads(listed.stdout)] == [second["id"], first["id"]]
    assert listed.stderr == ""

    shown = json.loads(signpost("bob", "post", "show", str(first["id"]), "--format", "json").stdout)
    assert shown["text"] == TEXT
    assert shown["campaign"] == "stop-it-now"

    campaigns = json.loads(signpost("bob", "campaign", "list", "--format", "json").stdout)
    assert [c["slug"] for c in campaigns] == ["stop-it-now"]
    assert campaigns[0]["must_include"] == [HELPLINE]

    status = json.loads(signpost("bob", "status", "--format", "json").stdout)
    assert status["posts"] == {"draft": 2}
    assert status["campaigns"] == 1


def test_post_list_pages(signpost: Signpost, campaign: str):
    ids = [add_post(signpost, f"{TEXT} #{i}")["id"] for i in range(5)]
    page = signpost("bob", "post", "list", "--limit", "2", "--offset", "2", "--format", "json")
    assert [p["id"] for p in json.loads(page.stdout)] == [ids[2], ids[1]]
    table = signpost("bob", "post", "list", "--limit", "2")
    assert "2 of 5 post(s); next page: --offset 2" in table.stderr


def test_post_list_filters_by_state_and_campaign(signpost: Signpost, campaign: str):
    draft = add_post(signpost, TEXT)
    submitted = add_post(signpost, TEXT + " Submitted.")
    assert signpost("alice", "post", "submit", str(submitted["id"])).exit_code == 0
    only = json.loads(
        signpost(
            "bob",
            "post",
            "list",
            "--state",
            "submitted",
            "--campaign",
            campaign,
            "--format",
            "json",
        ).stdout
    )
    assert [p["id"] for p in only] == [submitted["id"]]
    drafts = json.loads(
        signpost("bob", "post", "list", "--state", "draft", "--format", "json").stdout
    )
    assert [p["id"] for p in drafts] == [draft["id"]]


def test_text_from_file_and_stdin(signpost: Signpost, campaign: str, tmp_path: Path):
    source = tmp_path / "post.txt"
    source.write_text(TEXT, encoding="utf-8")
    from_file = signpost(
        "alice", "post", "add", "--campaign", campaign, "--file", str(source), "--format", "json"
    )
    assert json.loads(from_file.stdout)["text"] == TEXT
    from_stdin = signpost(
        "alice",
        "post",
        "add",
        "--campaign",
        campaign,
        "--file",
        "-",
        "--format",
        "json",
        input=TEXT,
    )
    assert json.loads(from_stdin.stdout)["text"] == TEXT


def test_cancel_is_final(signpost: Signpost, campaign: str):
    post = add_post(signpost, TEXT)
    cancelled = signpost("alice", "post", "cancel", str(post["id"]), "--format", "json")
    assert json.loads(cancelled.stdout)["state"] == "cancelled"
    again = signpost("alice", "post", "edit", str(post["id"]), "--text", TEXT + " Later.")
    assert again.exit_code == 3
    assert "cancelled and can no longer be edited" in again.stderr


def test_demo_runs_the_story():
    from typer.testing import CliRunner

    from scheduler.cli import app

    result = CliRunner().invoke(app, ["demo"])
    assert result.exit_code == 0, result.stderr
    assert "post 1 revision 1 approved by bob: now approved" in result.stderr
    assert "newsroom (webhook) · no length limit · OK" in result.stdout  # the preview
    assert "post 1 already has delivery 1 on newsroom" in result.stderr  # no second schedule
    assert "The webhook receiver verified 2 signed event(s) and rejected 0" in result.stderr
    assert "4/4 deliveries" in result.stdout
    assert "audit log OK" in result.stdout
    assert "the review page would be at http://127.0.0.1:8080/queue" in result.stderr
