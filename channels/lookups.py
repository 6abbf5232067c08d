"""Searching an account's recent posts for ours, far enough back to prove absence.

A lookup that answers "not there" lets the engine send again, so on a channel that cannot
deduplicate a wrong "not there" is a second post. One page of the newest posts proves
nothing when the account posted more than a page since our claim (a burst, another tool,
a busy Slack channel): ours may be on page two. :func:`find_since` therefore reads pages,
newest first, until one reaches back past the claim (``Message.not_before``) or the listing
ends, and only then says "not there"; when :data:`PAGES` pages are not enough it raises
:class:`OutcomeUnknown`, so a person decides rather than the engine resending blind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

from channels.base import OutcomeUnknown

T = TypeVar("T")

#: most pages one lookup reads (of 40-100 posts each) before it gives the question to a person
PAGES = 10


def created_at(item: dict[str, Any]) -> datetime | None:
    """An item's ISO 8601 ``created_at`` ("Z" allowed), or None when absent or unreadable
    (Mastodon statuses, X posts)."""
    try:
        moment = datetime.fromisoformat(str(item["created_at"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return None
    return moment if moment.tzinfo is not None else None


def find_since(
    pages: Iterable[tuple[list[T], bool]],
    *,
    matches: Callable[[T], bool],
    created: Callable[[T], datetime | None],
    not_before: datetime | None,
    name: str,
) -> T | None:
    """The first item on ``pages`` that ``matches``, or None once absence is proven.

    ``pages`` yields ``(items, more)`` newest first, fetched lazily; ``more`` says whether
    the listing goes on. Absence is proven when a page ends the listing or holds an item
    created before ``not_before``; without a bound only the end of the listing proves it.
    """
    for number, (items, more) in enumerate(pages, start=1):
        for item in items:
            if matches(item):
                return item
        if not more or (
            not_before is not None
            and any((when := created(item)) is not None and when < not_before for item in items)
        ):
            return None
        if number >= PAGES:
            break
    raise OutcomeUnknown(
        f"{name}: more posts since the send began than a lookup reads ({PAGES} pages);"
        " check the account by hand"
    )
