"""Wall-clock times in a campaign's zone, for the rules that read or show them.

A time without an offset is wall-clock time in the campaign's zone; on the day clocks change
a wall time can be missing (spring gap) or happen twice (autumn fold): both are refused,
offering the readings with explicit offsets, because guessing would publish an hour early
or late. This lives in ``posts/`` (not ``scheduler/when.py``, which reads what people type)
because a rule needs it too: a ``--rrule`` series is expanded in wall-clock time
(:func:`posts.scheduling.occurrences`), and ``posts/`` never imports ``scheduler/``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from posts.errors import UserError

#: reads a typed time: (text, time zone, now, option) -> aware UTC datetime. The CLI passes
#: ``scheduler.when.parse_when``; a web page would pass its own reader of a form's field.
ReadTime = Callable[[str, str, datetime, str], datetime]


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


def wall_clock(instant: datetime | None, tz: str) -> str:
    """An instant as people read it: wall time and zone abbreviation of the campaign."""
    if instant is None:
        return ""
    return instant.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M %Z")
