"""Reading a channel's secret from the environment or a private file, never from config.

The secret itself never appears in an error message, a log line, the database or the audit
log: errors name the variable or the file, not what is in it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from channels.base import PermanentError


def has_secret(options: Mapping[str, Any]) -> bool:
    """Whether the channel's config says where a secret is."""
    return bool(options.get("token_env") or options.get("token_file"))


def require_private(channel: str, path: Path, missing: str = "") -> None:
    """Refuse a ``token_file`` that is absent or that group or others may read (0600 only);
    ``missing`` is added to the "does not exist" message (what to run to make it)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise PermanentError(f"{channel}: token_file {path} does not exist{missing}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PermanentError(
            f"{channel}: token_file {path} is readable by group or others; run: chmod 600 {path}"
        )


def read_secret(channel: str, options: Mapping[str, Any], base: Path | None = None) -> str:
    """The channel's secret from ``token_env`` or ``token_file`` (which must be mode 0600)."""
    if options.get("token_env"):
        var = options["token_env"]
        value = os.environ.get(var, "").strip()
        if not value:
            raise PermanentError(f"{channel}: environment variable {var} (token_env) is not set")
        return value
    if options.get("token_file"):
        path = Path(options["token_file"])
        if base is not None and not path.is_absolute():
            path = base / path
        require_private(channel, path)
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise PermanentError(
                f"{channel}: token_file {path} unreadable ({exc.strerror})"
            ) from None
        if not value:
            raise PermanentError(f"{channel}: token_file {path} is empty")
        return value
    raise PermanentError(f"{channel}: no secret configured (set token_env or token_file)")
