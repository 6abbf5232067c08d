"""Reading the times people type (``--at``, ``--expires``, ``--from``) in a campaign's zone.

A time with an offset means exactly that instant. A time without one is wall-clock time in
the campaign's zone; on the day clocks change, a wall time can be missing (spring gap) or
happen twice (autumn fold): both are errors that say so and offer the readings with explicit
offsets, because guessing would publish an hour early or late. ``+15m`` means from now.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from posts.errors import UserError
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


def local_to_utc(wall: datetime, zone: ZoneInfo, option: str, text: str) -> datetime:
    """Convert a naive wall time in ``zone`` to UTC, refusing gaps and folds."""
    first = wall.replace(tzinfo=zone, fold=0)
    second = wall.replace(tzinfo=zone, fold=1)
    readings = [_with_offset(wall, first), _with_offset(wall, second)]
    if first.utcoffset() == second.utcoffset():
        return first.astimezone(UTC)
    round_trip = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    if round_trip != wall:
        raise UserError(
            f"{option} '{text}' does not exist in {zone.key}: the clocks go forward then."
            f" Did you mean {readings[0]} or {readings[1]}?"
        )
    raise UserError(
        f"{option} '{text}' is ambiguous in {zone.key}: the clocks go back and it happens"
        f" twice. Give the offset: {readings[0]} or {readings[1]}"
    )


def _with_offset(wall: datetime, aware: datetime) -> str:
    """``wall`` written with the offset of one reading, and what clocks would then show."""
    offset = aware.utcoffset() or timedelta(0)
    hours, minutes = divmod(abs(int(offset.total_seconds())) // 60, 60)
    sign = "+" if offset >= timedelta(0) else "-"
    actual = (wall - offset).replace(tzinfo=UTC).astimezone(aware.tzinfo)
    stamp = wall.isoformat(timespec="minutes")
    return f"{stamp}{sign}{hours:02d}:{minutes:02d} (= {actual.strftime('%H:%M %Z')})"


def show(instant: datetime | None, tz: str) -> str:
    """An instant as people read it: wall time and zone abbreviation of the campaign."""
    if instant is None:
        return ""
    return instant.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M %Z")


MAX_OCCURRENCES = 500


def occurrences(rule: str, first: datetime, tz: str) -> list[datetime]:
    """The UTC instants of an RFC 5545 RRULE whose first occurrence is ``first``.

    The rule is expanded in wall-clock time of ``tz`` (python-dateutil's rrule), so 09:00
    stays 09:00 local across a clock change; each occurrence is then checked for gaps and
    folds like any typed time. The rule must end (COUNT or UNTIL) within 500 occurrences.
    """
    from dateutil.rrule import rrulestr

    zone = ZoneInfo(tz)
    local = first.astimezone(zone).replace(tzinfo=None)
    text = rule.strip().removeprefix("RRULE:")
    if "COUNT=" not in text.upper() and "UNTIL=" not in text.upper():
        raise UserError(f"--rrule '{rule}': give COUNT=n or UNTIL=date so the series ends")
    try:
        expanded = rrulestr(text, dtstart=local, forceset=False)
        walls = []
        for wall in expanded:
            walls.append(wall)
            if len(walls) > MAX_OCCURRENCES:
                raise UserError(f"--rrule '{rule}': more than {MAX_OCCURRENCES} occurrences")
    except (ValueError, TypeError) as exc:
        raise UserError(f"--rrule '{rule}': {exc} (e.g. FREQ=WEEKLY;BYDAY=MO;COUNT=6)") from None
    if not walls:
        raise UserError(f"--rrule '{rule}': no occurrence at or after --at")
    return [
        local_to_utc(wall, zone, "--rrule", wall.isoformat(timespec="minutes")) for wall in walls
    ]
