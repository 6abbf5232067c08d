"""The content calendar as iCalendar (for calendar apps) and as one static HTML page.

ICS: one VEVENT per delivery whose UID is the delivery's idempotency key, so re-importing or
subscribing updates events instead of duplicating them (RFC 5545 §3.8.4.7); LAST-MODIFIED
and SEQUENCE follow the delivery's last change.

HTML: one self-contained page (inline CSS, no JavaScript, no network), a week per row, each
delivery coloured by state, readable offline and printable for a planning meeting.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from scheduler.when import parse_when

EVENT_MINUTES = 15
STATE_COLOURS = {
    "held": "#f0ad4e",
    "pending": "#5bc0de",
    "sending": "#5bc0de",
    "retry_wait": "#f0ad4e",
    "sent": "#5cb85c",
    "failed": "#d9534f",
    "missed": "#d9534f",
    "uncertain": "#9b59b6",
    "cancelled": "#999999",
}
ICS_STATUS = {
    "held": "TENTATIVE",
    "cancelled": "CANCELLED",
    "missed": "CANCELLED",
    "failed": "CANCELLED",
}


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def period_end(text: str, tz: str, now: datetime, option: str = "--to") -> datetime:
    """The exclusive UTC end of a period that runs "to" ``text``.

    People who say "--to 2026-12-08" mean the 8th too, so a bare date runs through that whole
    day: the end is the first instant of the next day in ``tz`` (where clocks skip midnight,
    the instant they jump). A time is the end itself, not included, so back-to-back periods
    ("--to 12:00", then "--from 12:00") never show a delivery twice.
    """
    raw = text.strip()
    try:
        day = date.fromisoformat(raw) if _DAY.fullmatch(raw) else None
    except ValueError:  # 2026-02-30: parse_when words the error like every other time
        day = None
    if day is None:
        return parse_when(text, tz, now, option)
    # fold=0 reads a skipped wall time with the offset before the jump: the jump's instant.
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=ZoneInfo(tz)).astimezone(UTC)


def summary(row: dict[str, Any], limit: int = 60) -> str:
    words = " ".join((row.get("text") or "").split())
    words = words if len(words) <= limit else words[: limit - 1] + "…"
    return f"[{row['channel']}] {words}"


def to_ics(rows: Sequence[dict[str, Any]], now: datetime) -> bytes:
    """An iCalendar file with one event per delivery."""
    from icalendar import Calendar, Event

    calendar = Calendar()
    calendar.add("prodid", "-//Signpost//Campaign calendar//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", "Signpost campaign calendar")
    for row in rows:
        due = datetime.fromisoformat(row["due"])
        updated = datetime.fromisoformat(row["updated"])
        event = Event()
        event.add("uid", f"{row['idempotency_key']}@signpost")
        event.add("dtstamp", now)
        event.add("last-modified", updated)
        created = datetime.fromisoformat(row["created"])
        event.add("sequence", int((updated - created).total_seconds()))  # grows with changes
        event.add("dtstart", due)
        event.add("dtend", due + timedelta(minutes=EVENT_MINUTES))
        event.add("summary", summary(row))
        event.add(
            "description",
            f"{row.get('text') or ''}\n\nState: {row['state']}"
            f"\nCampaign: {row['campaign']}\nPost: {row['post']}",
        )
        event.add("categories", [row["channel"], row["campaign"]])
        event.add("status", ICS_STATUS.get(row["state"], "CONFIRMED"))
        if row.get("remote_url"):
            event.add("url", row["remote_url"])
        calendar.add_component(event)
    return calendar.to_ical()


@dataclass(frozen=True)
class Day:
    """One calendar cell: the date, whether it lies in the period asked for, and its rows."""

    day: date
    inside: bool
    rows: list[dict[str, Any]]


def weeks(
    rows: Sequence[dict[str, Any]], tz: str, begin: date, end: date
) -> list[tuple[date, list[Day]]]:
    """Monday-first weeks covering ``begin``..``end``; each row in its local day, in time order.

    Each row gains ``local`` (its due time in ``tz``). The HTML export and the review page's
    calendar both draw these weeks.
    """
    zone = ZoneInfo(tz)
    by_day: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r["due"]):
        local = datetime.fromisoformat(row["due"]).astimezone(zone)
        by_day[local.date()].append({**row, "local": local})
    monday = begin - timedelta(days=begin.weekday())
    out = []
    while monday <= end:
        days = [monday + timedelta(days=offset) for offset in range(7)]
        out.append((monday, [Day(d, begin <= d <= end, by_day.get(d, [])) for d in days]))
        monday += timedelta(days=7)
    return out


def to_html(rows: Sequence[dict[str, Any]], tz: str, title: str, begin: date, end: date) -> str:
    """A static page: a week per row, Monday first, deliveries coloured by state."""
    lines = []
    for monday, days in weeks(rows, tz, begin, end):
        cells = []
        for cell in days:
            items = "".join(
                f'<li class="s-{html.escape(r["state"])}" title="{html.escape(r["state"])}">'
                f"<time>{r['local']:%H:%M}</time> {html.escape(summary(r))}</li>"
                for r in cell.rows
            )
            outside = "" if cell.inside else ' class="outside"'
            cells.append(f"<td{outside}><h3>{cell.day:%a %d %b}</h3><ul>{items}</ul></td>")
        lines.append(f"<tr><th>Week of {monday:%d %b %Y}</th>{''.join(cells)}</tr>")
    legend = "".join(f'<li class="s-{s}">{s}</li>' for s in STATE_COLOURS)
    colours = "\n".join(
        f".s-{s} {{ border-left: 6px solid {c}; }}" for s, c in STATE_COLOURS.items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 1em; }}
table {{ border-collapse: collapse; width: 100%; table-layout: fixed; }}
td, th {{ border: 1px solid #ccc; vertical-align: top; padding: 4px; }}
th {{ width: 7em; text-align: left; background: #f4f4f4; }}
td.outside {{ background: #fafafa; color: #999; }}
h3 {{ font-size: 12px; margin: 0 0 4px; }}
ul {{ list-style: none; margin: 0; padding: 0; }}
li {{ margin: 2px 0; padding: 2px 4px; background: #f9f9f9; overflow-wrap: anywhere; }}
ul.legend li {{ display: inline-block; margin-right: 1em; }}
{colours}
</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p>{begin:%d %b %Y} to {end:%d %b %Y}, times in {html.escape(tz)}; {len(rows)} deliveries.</p>
<ul class="legend">{legend}</ul>
<table>
{chr(10).join(lines)}
</table>
</body></html>
"""
