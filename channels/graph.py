"""Meta's Graph error body, shared by Threads (and Facebook and Instagram): channels.md §8.

``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``. Transient codes
(§8): 1, 2, 4, 17, 341, 368 and 32/613 (call-count and rate limits); 190 is the token
(HTTP 401 on Threads: the caller refreshes or re-connects); every other code is permanent
with Meta's own message. The ``fbtrace_id`` is kept for support, never a token.
"""

from __future__ import annotations

from typing import Any

from channels.answers import retry_after_seconds, short
from channels.errors import PermanentError, TransientError
from channels.oauth import TokenRefused

TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 341, 368, 613})
#: Graph's call-count limits name no delay; wait this long before the next try
RATE_LIMIT_WAIT_S = 300.0


def graph_error(body: Any) -> dict[str, Any] | None:
    """The ``error`` object of a Graph answer, or None when the body holds none."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"]
    return None


def regain_seconds(headers: Any) -> float | None:
    """The wait a Page's ``X-Business-Use-Case-Usage`` header names (§8): the longest
    ``estimated_time_to_regain_access`` (minutes) of its entries, in seconds."""
    import json

    try:
        usage = json.loads(headers.get("x-business-use-case-usage") or "null")
        minutes = [
            float(entry["estimated_time_to_regain_access"])
            for entries in (usage or {}).values()
            for entry in entries
            if entry.get("estimated_time_to_regain_access") is not None
        ]
    except (ValueError, TypeError, AttributeError, KeyError):
        return None
    return max(minutes) * 60 if minutes and max(minutes) > 0 else None


def raise_graph_error(response: Any, body: Any, channel: str, now: Any) -> None:
    """Raise what a Graph error means; nothing when the answer carries no error object."""
    error = graph_error(body)
    if error is None or response.status_code == 401:
        return  # a 401 is the token: OAuthAdapter refreshes or says credentials rejected
    code = error.get("code")
    if code == 190:  # graph.facebook.com answers a bad token with 400 and code 190
        raise TokenRefused(f"{channel}: Meta refused the access token (code 190)")
    words = short(str(error.get("message") or "no message"))
    trace = f" (fbtrace_id {error['fbtrace_id']})" if error.get("fbtrace_id") else ""
    if code in TRANSIENT_CODES or response.status_code >= 500:
        delay = retry_after_seconds(response.headers, now)
        if delay is None:
            delay = regain_seconds(response.headers)
        if delay is None and code in (4, 17, 32, 613):
            delay = RATE_LIMIT_WAIT_S
        raise TransientError(f"{channel}: Meta says: {words} (code {code}){trace}", delay)
    raise PermanentError(f"{channel}: Meta refused: {words} (code {code}){trace}")
