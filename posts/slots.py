"""Queue slots: a campaign's regular posting times, and the next free one per channel.

``"Mon-Fri 09:00,13:00; Sat 10:00"``: groups separated by ``;``, each days (names, ranges
or comma lists) then times. Slots are wall-clock times in the campaign's zone, so 09:00
stays 09:00 across a clock change; a slot that falls in a spring gap is skipped, and in an
autumn fold the first (summer-time) reading is used.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from posts.errors import UserError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LOOKAHEAD_DAYS = 366
_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


def parse(spec: str) -> list[tuple[frozenset[int], tuple[time, ...]]]:
    """The groups of a slot spec; UserError naming the part that is wrong."""
    groups = []
    for part in [p.strip() for p in spec.split(";") if p.strip()]:
        days_text, _, times_text = part.partition(" ")
        days = _days(days_text, spec)
        times = []
        for item in [t.strip() for t in times_text.split(",") if t.strip()]:
            match = _TIME.fullmatch(item)
            if not match:
                raise UserError(f"slots '{spec}': '{item}' is not a time such as 09:00")
            times.append(time(int(match[1]), int(match[2])))
        if not times:
            raise UserError(f"slots '{spec}': '{part}' names days but no times (e.g. Mon 09:00)")
        groups.append((days, tuple(sorted(times))))
    if not groups:
        raise UserError(f"slots '{spec}': expected e.g. 'Mon-Fri 09:00,13:00; Sat 10:00'")
    return groups


def _days(text: str, spec: str) -> frozenset[int]:
    days: set[int] = set()
    for item in text.lower().split(","):
        first, _, last = item.partition("-")
        try:
            start = DAYS.index(first[:3])
            end = DAYS.index(last[:3]) if last else start
        except ValueError:
            raise UserError(
                f"slots '{spec}': '{item}' is not a day such as Mon or Mon-Fri"
            ) from None
        if end < start:
            raise UserError(f"slots '{spec}': '{item}' runs backwards")
        days.update(range(start, end + 1))
    return frozenset(days)


def upcoming(spec: str, tz: str, after: datetime) -> Iterator[datetime]:
    """Every slot instant (UTC) strictly after ``after``, in order, for a year ahead."""
    zone = ZoneInfo(tz)
    groups = parse(spec)
    day = after.astimezone(zone).date()
    for _ in range(LOOKAHEAD_DAYS):
        instants = []
        for days, times in groups:
            if day.weekday() in days:
                for at in times:
                    wall = datetime.combine(day, at)
                    local = wall.replace(tzinfo=zone, fold=0)
                    if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:
                        continue  # in the spring gap: that slot does not exist today
                    instants.append(local.astimezone(UTC))
        for instant in sorted(set(instants)):
            if instant > after:
                yield instant
        day += timedelta(days=1)
