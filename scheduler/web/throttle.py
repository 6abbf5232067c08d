"""Failed sign-ins counted per user name and per client address (DESIGN §11).

A name that keeps failing is being guessed at; an address that fails across many names is
spraying. Either is refused for a while without checking the password, so an attacker gets
a handful of guesses per window, not thousands. Kept in the process's memory: a restart
forgets it, and each web process throttles on its own (docs/decisions.md).
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from datetime import datetime, timedelta

from scheduler.clock import Clock

WINDOW = timedelta(minutes=15)
PER_USER = 5
PER_ADDRESS = 20


class Throttle:
    """Sliding-window counters of failures; time comes from the injected clock."""

    def __init__(
        self, clock: Clock, *, per_user: int = PER_USER, per_address: int = PER_ADDRESS
    ) -> None:
        self.clock = clock
        self.limits = {"user": per_user, "address": per_address}
        self._failures: dict[tuple[str, str], deque[datetime]] = defaultdict(deque)
        self._lock = threading.Lock()  # handlers run in a thread pool

    def wait(self, user: str, address: str) -> timedelta | None:
        """How long until another attempt is allowed for this name or address (None: now)."""
        now = self.clock.now()
        waits = []
        with self._lock:
            for key in self._keys(user, address):
                times = self._recent(key, now)
                if len(times) >= self.limits[key[0]]:
                    waits.append(times[0] + WINDOW - now)
        return max(waits, default=None)

    def failed(self, user: str, address: str) -> None:
        """Count one failed attempt against the name and the address."""
        now = self.clock.now()
        with self._lock:
            for key in self._keys(user, address):
                self._recent(key, now).append(now)

    def succeeded(self, user: str) -> None:
        """A right password clears the name's count (the address keeps its own)."""
        with self._lock:
            self._failures.pop(("user", user.casefold()), None)

    def _keys(self, user: str, address: str) -> list[tuple[str, str]]:
        return [("user", user.casefold()), ("address", address)]

    def _recent(self, key: tuple[str, str], now: datetime) -> deque[datetime]:
        times = self._failures[key]
        while times and times[0] + WINDOW <= now:
            times.popleft()
        return times
