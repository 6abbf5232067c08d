"""Reading the times people type (``--at``, ``--expires``, ``--from``) in a campaign's zone.

A time with an offset means exactly that instant. A time without one is wall-clock time in
the campaign's zone; on the day clocks change, a wall time can be missing (spring gap) or
happen twice (autumn fold): both are errors that say so and offer the readings with explicit
offsets, because guessing would publish an hour early or late (``posts.times``, shared with
the rules that expand a ``--rrule`` series). ``+15m`` means from now.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from posts.errors import UserError
from posts.times import local_to_utc
from scheduler.config import parse_duration

FORMATS_HELP = '"2026-12-01 09:00" (campaign time), "2026-12-01T09:00+00:00" or "+15m"'


def parse_when(text: str, tz: str, now: datetime, option: str = "--at") -> datetime:
    """The UTC instant ``text`` names, read in ``tz`` unless it carries an offset."""
    raw = text.strip()
    if raw.startswith("+"):
        try:
            return now + parse_duration(raw[1:])
        except ValueError:
            raise UserError(f"{option} '{text}': expected {FORMATS_HELP}") from None
    try:
        parsed = datetime.fromisoformat(raw.replace(" ", "T", 1) if "T" not in raw else raw)
    except ValueError:
        raise UserError(f"{option} '{text}': expected {FORMATS_HELP}") from None
    if parsed.tzinfo is not None:
        return parsed.astimezone(UTC)
    return local_to_utc(parsed, ZoneInfo(tz), option, text)
