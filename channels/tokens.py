"""OAuth tokens that rotate, kept in the channel's ``token_file`` and refreshed once.

DESIGN §10: X and LinkedIn hand out refresh tokens that work once (every refresh returns a
new one, channels.md §15), Threads and Facebook long-lived tokens that must be renewed
before they lapse. The tokens live in a JSON file of mode 0600 — never in the database, the
audit log, a log line or an error — shaped::

    {"access_token": "...", "refresh_token": "...", "expires_at": "2026-12-03T18:00:00+00:00"}

Several daemons on one host may publish to the same channel. If two refreshed at once, the
second would spend a refresh token the first had already used, and the network would
refuse it (X revokes the whole grant on reuse). So a refresh happens under an exclusive
``flock`` on ``<token_file>.lock``, and only after re-reading the file under that lock: if
another process has refreshed meanwhile, its new token is used and no refresh is made. The
file is rewritten atomically (a 0600 temporary file in the same folder, fsync, rename), so
a reader never sees half a file and a crash leaves the old or the new tokens, not neither.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from channels.errors import PermanentError
from channels.secrets import require_private

#: refresh this long before the access token's stated expiry
MARGIN = timedelta(minutes=5)


@dataclass(frozen=True)
class Tokens:
    """One channel's current tokens; ``extra`` keeps keys we do not use (scope, user id)."""

    access_token: str
    refresh_token: str | None = None
    expires_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def expiring(self, now: datetime, margin: timedelta = MARGIN) -> bool:
        return self.expires_at is not None and self.expires_at - margin <= now

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {**self.extra, "access_token": self.access_token}
        if self.refresh_token:
            out["refresh_token"] = self.refresh_token
        if self.expires_at is not None:
            out["expires_at"] = self.expires_at.isoformat()
        return out

    @classmethod
    def from_answer(cls, body: dict[str, Any], now: datetime, old: Tokens | None = None) -> Tokens:
        """Tokens from an OAuth token endpoint's answer (``expires_in`` seconds from now).

        A network that does not rotate the refresh token leaves it out: keep the old one.
        """
        seconds = body.get("expires_in")
        expires = now + timedelta(seconds=float(seconds)) if seconds is not None else None
        keep = {k: v for k, v in body.items() if k in ("scope", "token_type", "user_id")}
        return cls(
            access_token=str(body["access_token"]),
            refresh_token=body.get("refresh_token") or (old.refresh_token if old else None),
            expires_at=expires,
            extra=keep,
        )


Refresh = Callable[[Tokens], Tokens]


class TokenFile:
    """The ``token_file`` of channel ``channel``: read, refreshed once, rewritten atomically."""

    def __init__(self, channel: str, path: Path | str) -> None:
        self.channel = channel
        self.path = Path(path)

    def read(self) -> Tokens:
        """The tokens in the file; PermanentError naming the file (never its content)."""
        require_private(self.channel, self.path, f"; run: signpost channels connect {self.channel}")
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            expires = data.get("expires_at")
            return Tokens(
                access_token=str(data["access_token"]),
                refresh_token=data.get("refresh_token"),
                expires_at=_aware(datetime.fromisoformat(expires)) if expires else None,
                extra={
                    k: v
                    for k, v in data.items()
                    if k not in ("access_token", "refresh_token", "expires_at")
                },
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise PermanentError(
                f"{self.channel}: token_file {self.path} is not a token file"
                ' (JSON with "access_token"); run: signpost channels connect '
                f"{self.channel}"
            ) from None

    def write(self, tokens: Tokens) -> None:
        """Replace the file's content atomically, mode 0600 from the first byte."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(tokens.as_json(), out, indent=2)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @contextmanager
    def locked(self) -> Iterator[None]:
        """An exclusive lock shared by every process on this host using this file."""
        lock = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def current(self, now: datetime, refresh: Refresh, *, renews_itself: bool = False) -> Tokens:
        """Tokens to use now: the file's, refreshed first when they expire within MARGIN."""
        tokens = self.read()
        if not tokens.expiring(now):
            return tokens
        return self.refreshed(tokens, refresh, now, renews_itself=renews_itself)

    def refreshed(
        self, used: Tokens, refresh: Refresh, now: datetime, *, renews_itself: bool = False
    ) -> Tokens:
        """New tokens in place of ``used`` (which expired or was refused), refreshed once.

        Under the lock the file is read again: when another process has already replaced
        ``used`` its tokens are returned as they are, and no refresh token is spent twice.
        ``renews_itself``: the access token is exchanged for a new one (Threads, Facebook's
        long-lived tokens), so no refresh token is needed.
        """
        with self.locked():
            latest = self.read()
            if latest.access_token != used.access_token and not latest.expiring(now):
                return latest
            if not latest.refresh_token and not renews_itself:
                raise PermanentError(
                    f"{self.channel}: the access token has expired and there is no refresh"
                    f" token; run: signpost channels connect {self.channel}"
                )
            fresh = refresh(latest)
            self.write(fresh)
            return fresh


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
