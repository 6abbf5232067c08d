"""The calendar as ICS (parsed back with icalendar) and as a static HTML page."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from icalendar import Calendar
from typer.testing import Result

from scheduler.clock import FrozenClock
from tests.conftest import HELPLINE, Signpost, add_post
from tests.shared import NOW, approved, on_clock, schedule


@pytest.fixture
def planned(signpost: Signpost, campaign: str):
    at = on_clock(signpost, FrozenClock(NOW))
    post = add_post(at, f"Web chat tonight, 18:00: {HELPLINE}")
    other = approved(at, f"Worried? Confidential help: {HELPLINE}")
    made = []
    for post_id, when, channels in (
        (post["id"], "2026-03-03 17:00", "newsroom,feed"),
        (other, "2026-03-12 09:00", "feed"),
    ):
        made += schedule(at, post_id, when, channels)
    return at, made


def export(at: Signpost, start: str, end: str, file_format: str, out: Path) -> Result:
    """bob's calendar from ``start`` to ``end`` written to ``out``: what each export test runs."""
    return at(
        "bob",
        "calendar",
        "--from",
        start,
        "--to",
        end,
        "--format",
        file_format,
        "--output",
        str(out),
    )


def test_ics_has_one_event_per_delivery_keyed_by_its_key(planned, tmp_path: Path):
    at, made = planned
    out = tmp_path / "plan.ics"
    result = export(at, "2026-03-01", "2026-03-31", "ics", out)
    assert result.exit_code == 0, result.stderr
    events = Calendar.from_ical(out.read_bytes()).walk("VEVENT")
    assert sorted(str(e["uid"]) for e in events) == sorted(
        f"{d['idempotency_key']}@signpost" for d in made
    )
    by_uid = {str(e["uid"]): e for e in events}
    chat = by_uid[f"{made[0]['idempotency_key']}@signpost"]
    assert chat.decoded("dtstart") == datetime(2026, 3, 3, 17, 0, tzinfo=UTC)
    assert str(chat["summary"]) == "[newsroom] Web chat tonight, 18:00: 0808 1000 900"
    assert str(chat["status"]) == "TENTATIVE"  # held: not approved yet
    assert str(by_uid[f"{made[2]['idempotency_key']}@signpost"]["status"]) == "CONFIRMED"

    again = at("bob", "calendar", "--from", "2026-03-01", "--to", "2026-03-31", "--format", "ics")
    assert sorted(
        str(e["uid"]) for e in Calendar.from_ical(again.stdout_bytes).walk("VEVENT")
    ) == sorted(by_uid)  # the same UIDs: apps update, not duplicate


def test_html_is_one_offline_page_a_week_per_row(planned, tmp_path: Path):
    at, _made = planned
    out = tmp_path / "plan.html"
    result = export(at, "2026-03-02", "2026-03-15", "html", out)
    assert result.exit_code == 0, result.stderr
    page = out.read_text(encoding="utf-8")
    assert "<script" not in page and "http" not in page.split("<body>")[1].split("Web chat")[0]
    weeks = re.findall(r"<tr><th>Week of ([^<]+)</th>", page)
    assert weeks == ["02 Mar 2026", "09 Mar 2026"]
    assert page.count('class="s-held" title=') == 2  # the web chat, to two channels
    assert page.count('class="s-pending" title=') == 1
    assert "<time>17:00</time> [newsroom] Web chat tonight" in page
    assert "<time>09:00</time> [feed] Worried? Confidential help" in page


def test_output_needs_a_file_format(planned):
    at, _made = planned
    result = at("bob", "calendar", "--format", "json", "--output", "x.json")
    assert result.exit_code == 1
    assert "--output goes with --format ics or html" in result.stderr


def test_html_in_headless_chromium_shows_the_weeks_posts(planned, tmp_path: Path):
    """The page as a browser renders it (Debian's chromium, offline)."""
    import shutil
    import subprocess

    from tests.peers import CHROMIUM_FLAGS, missing

    browser = shutil.which("chromium")
    if browser is None:
        missing("chromium (apt-get install -y chromium)")
    at, _made = planned
    page = tmp_path / "plan.html"
    export(at, "2026-03-02", "2026-03-08", "html", page)  # to Sunday: a bare date includes it
    done = subprocess.run(
        [
            browser,
            "--headless",
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    rendered = done.stdout
    assert done.returncode == 0 and rendered, done.stderr[-2000:]
    weeks = re.findall(r"<th>Week of ([^<]+)</th>", rendered)
    assert weeks == ["02 Mar 2026"]
    items = re.findall(
        r'<li class="s-(\w+)" title="\w+"><time>([\d:]+)</time> ([^<]+)</li>', rendered
    )
    assert items == [
        ("held", "17:00", "[newsroom] Web chat tonight, 18:00: 0808 1000 900"),
        ("held", "17:00", "[feed] Web chat tonight, 18:00: 0808 1000 900"),
    ]
