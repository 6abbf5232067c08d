"""Four-eyes approval bound to the content hash (DESIGN §3, §5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import HELPLINE, Signpost, add_post, dump
from tests.database import TestDatabase

TEXT = f"Confidential help to stop: {HELPLINE}."


def submitted_post(signpost: Signpost, actor: str = "alice") -> dict:
    post = add_post(signpost, TEXT, actor=actor)
    result = signpost(actor, "post", "submit", str(post["id"]))
    assert result.exit_code == 0, result.stderr
    return post


def state_of(signpost: Signpost, post_id: int) -> dict:
    return json.loads(signpost("bob", "post", "show", str(post_id), "--format", "json").stdout)


def test_author_never_approves_own_post(signpost: Signpost, campaign: str, db_path: TestDatabase):
    post = submitted_post(signpost, actor="carol")  # carol holds author and approver
    before = dump(db_path)
    result = signpost("carol", "post", "approve", str(post["id"]), "--revision", "1")
    assert result.exit_code == 3
    assert "four-eyes: carol wrote post" in result.stderr
    assert dump(db_path) == before


def test_whoever_edited_a_post_cannot_approve_it(signpost: Signpost, campaign: str):
    post = submitted_post(signpost)
    edited = signpost("carol", "post", "edit", str(post["id"]), "--text", TEXT + " Call today.")
    assert edited.exit_code == 0, edited.stderr
    refused = signpost("carol", "post", "approve", str(post["id"]), "--revision", "2")
    assert refused.exit_code == 3
    assert "four-eyes" in refused.stderr
    assert signpost("bob", "post", "approve", str(post["id"]), "--revision", "2").exit_code == 0


def test_one_person_counts_once(signpost: Signpost, campaign: str, config_file: Path):
    config_file.write_text(config_file.read_text().replace("required = 1", "required = 2"))
    post = submitted_post(signpost)
    first = signpost("bob", "post", "approve", str(post["id"]), "--revision", "1")
    assert first.exit_code == 0
    assert state_of(signpost, post["id"])["state"] == "submitted"
    twice = signpost("bob", "post", "approve", str(post["id"]), "--revision", "1")
    assert twice.exit_code == 3
    assert "already approved" in twice.stderr
    assert state_of(signpost, post["id"])["state"] == "submitted"
    assert signpost("dave", "post", "approve", str(post["id"]), "--revision", "1").exit_code == 0
    shown = state_of(signpost, post["id"])
    assert shown["state"] == "approved"
    assert shown["approvals"] == ["bob", "dave"]


def test_campaign_can_require_more_approvals(signpost: Signpost, initialised: Signpost):
    signpost("carol", "campaign", "add", "stop-it-now", "--name", "S", "--approvals", "2")
    post = submitted_post(signpost)
    signpost("bob", "post", "approve", str(post["id"]), "--revision", "1")
    assert state_of(signpost, post["id"])["state"] == "submitted"
    signpost("dave", "post", "approve", str(post["id"]), "--revision", "1")
    assert state_of(signpost, post["id"])["state"] == "approved"


def test_only_approver_roles_approve(signpost: Signpost, campaign: str):
    post = submitted_post(signpost, actor="carol")
    result = signpost("alice", "post", "approve", str(post["id"]), "--revision", "1")
    assert result.exit_code == 3
    assert "needs the role approver" in result.stderr


def test_edit_after_approval_needs_approval_again(signpost: Signpost, campaign: str):
    post = submitted_post(signpost)
    assert signpost("bob", "post", "approve", str(post["id"]), "--revision", "1").exit_code == 0
    edited = signpost(
        "alice", "post", "edit", str(post["id"]), "--text", TEXT + " Today.", "--format", "json"
    )
    shown = json.loads(edited.stdout)
    assert shown["state"] == "submitted"
    assert shown["revision"] == 2
    assert shown["approvals"] == []
    assert shown["content_hash"] != post["content_hash"]
    # bob's earlier approval was for the old hash: he may approve the new text once.
    again = signpost("bob", "post", "approve", str(post["id"]), "--revision", "2", "-f", "json")
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["state"] == "approved"


@pytest.mark.parametrize("state_steps", [[], ["reject"]])
def test_edit_of_draft_or_rejected_goes_to_draft(signpost: Signpost, campaign: str, state_steps):
    post = submitted_post(signpost) if state_steps else add_post(signpost, TEXT)
    if state_steps:
        rejected = signpost(
            "bob", "post", "reject", str(post["id"]), "--revision", "1", "--comment", "tone"
        )
        assert rejected.exit_code == 0
        assert state_of(signpost, post["id"])["state"] == "rejected"
    edited = signpost(
        "alice", "post", "edit", str(post["id"]), "--text", TEXT + " v2", "--format", "json"
    )
    assert json.loads(edited.stdout)["state"] == "draft"


def test_rejection_needs_a_comment(signpost: Signpost, campaign: str, db_path: TestDatabase):
    post = submitted_post(signpost)
    missing = signpost("bob", "post", "reject", str(post["id"]))
    assert missing.exit_code == 2
    before = dump(db_path)
    blank = signpost("bob", "post", "reject", str(post["id"]), "--revision", "1", "--comment", "  ")
    assert blank.exit_code == 1
    assert "a rejection needs a reason" in blank.stderr
    assert dump(db_path) == before


def test_draft_cannot_be_approved(signpost: Signpost, campaign: str):
    post = add_post(signpost, TEXT)
    result = signpost("bob", "post", "approve", str(post["id"]), "--revision", "1")
    assert result.exit_code == 3
    assert "submit it first" in result.stderr


def test_variant_edit_adds_and_removes(signpost: Signpost, campaign: str):
    post = add_post(signpost, TEXT, "--variant", f"bluesky=Short: {HELPLINE}")
    assert post["variants"] == {"bluesky": f"Short: {HELPLINE}"}
    edited = signpost(
        "alice", "post", "edit", str(post["id"]), "--variant", "bluesky=", "--format", "json"
    )
    assert json.loads(edited.stdout)["variants"] == {}
