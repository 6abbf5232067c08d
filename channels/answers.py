"""Reading a server's answer: the delay it asked for, its own words, what its status means.

Used by :meth:`channels.base.Adapter.request` after each channel's classifier has read the
body (channels.md "Errors" of each section: 429 and 5xx transient, 401/403 credentials,
other 4xx permanent with the server's words).
"""

from __future__ import annotations

import email.utils
from datetime import datetime
from typing import TYPE_CHECKING, Any

from channels.errors import PermanentError, TransientError

if TYPE_CHECKING:
    import httpx


def retry_after_seconds(headers: httpx.Headers, now: datetime) -> float | None:
    """The delay a server asked for: Retry-After (seconds or HTTP date) or a reset time."""
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None
            return max(0.0, (when - now).total_seconds())
    reset = (
        headers.get("x-ratelimit-reset")
        or headers.get("x-rate-limit-reset")  # X (channels.md §7)
        or headers.get("ratelimit-reset")
    )
    if reset:
        try:
            number = float(reset)
        except ValueError:
            try:
                when = datetime.fromisoformat(reset.replace("Z", "+00:00"))
            except ValueError:
                return None
            if when.tzinfo is None:
                return None
            return max(0.0, (when - now).total_seconds())
        # Epoch seconds when large, otherwise a number of seconds to wait.
        return max(0.0, number - now.timestamp()) if number > 1e9 else max(0.0, number)
    return None


def said(response: httpx.Response, *keys: str) -> str:
    """The server's own words: the first of ``keys`` in a JSON body, else the short text."""
    try:
        body = response.json()
    except ValueError:
        return short(response.text)
    if isinstance(body, dict):
        for key in keys:
            if isinstance(body.get(key), str) and body[key]:
                return short(body[key])
    return short(response.text)


def raise_for(
    response: httpx.Response,
    channel: str,
    now: datetime,
    detail: str = "",
    retry_after: float | None = None,
) -> None:
    """Map an HTTP status to our errors (429/5xx transient; 401/403 credentials; other 4xx).

    ``detail`` is the server's message when the caller has parsed it; ``retry_after`` a delay
    the body named (Telegram, Discord), used when no header names one.
    """
    status = response.status_code
    if status < 300:
        return
    said_text = detail or short(response.text)
    delay = retry_after_seconds(response.headers, now)
    if delay is None:
        delay = retry_after
    if status == 429:
        raise TransientError(f"{channel}: rate limited (429)", delay)
    if status >= 500:
        raise TransientError(f"{channel}: server error {status} {said_text}".rstrip(), delay)
    if status in (401, 403):
        raise PermanentError(f"credentials rejected by {channel} ({status})")
    raise PermanentError(f"{channel}: refused with {status}: {said_text}".rstrip(": "))


def short(text: str, limit: int = 300) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_or_none(response: httpx.Response) -> Any:
    """The parsed JSON body, or None when it is not JSON (or not even text)."""
    try:
        return response.json()
    except ValueError:  # UnicodeDecodeError is a ValueError too
        return None


def dig(body: Any, dotted: str) -> Any:
    """``body["a"]["b"]`` for ``"a.b"``, or None where any step is missing or not an object."""
    for part in dotted.split("."):
        if not isinstance(body, dict):
            return None
        body = body.get(part)
    return body


def cut_timeout(timeout: httpx.Timeout, left: float) -> httpx.Timeout:
    """Each phase of ``timeout`` cut to the ``left`` seconds of a send's deadline."""
    import httpx

    def cut(part: float | None) -> float:
        return left if part is None else min(part, left)

    return httpx.Timeout(
        connect=cut(timeout.connect),
        read=cut(timeout.read),
        write=cut(timeout.write),
        pool=cut(timeout.pool),
    )
