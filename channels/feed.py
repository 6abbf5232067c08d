"""An Atom feed file (RFC 4287; channels.md §12), for websites and feed readers.

Publishing adds or replaces one entry and rewrites the whole file atomically (temp file in
the same folder, then rename), so a reader never sees half a feed. The entry id is derived
from the idempotency key, so publishing the same delivery twice leaves one entry: the
channel deduplicates by construction, and ``lookup`` just reads the file. Concurrent
daemons take an exclusive lock on ``<path>.lock`` while they rewrite. A file we cannot read
(not XML, an entry without a date) is a permanent error naming it; there are no requests, so
the send deadline does not apply.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from xml.etree import ElementTree

from channels.base import Adapter, Message, PermanentError, Receipt, TransientError

ATOM = "{http://www.w3.org/2005/Atom}"
KEEP_ENTRIES = 50


class FeedChannel(Adapter):
    """Keep the newest entries of an Atom feed file."""

    type = "feed"
    deduplicates = True

    @property
    def path(self) -> Path:
        return Path(self.options["path"])

    def entry_id(self, message: Message) -> str:
        return f"{self.options.get('feed_id', 'urn:signpost')}:{message.idempotency_key}"

    def _publish(self, message: Message) -> Receipt:
        entry_id = self.entry_id(message)
        now = self.now()
        with self._locked():
            entries = [e for e in self._read_entries() if e["id"] != entry_id]
            entries.append(
                {
                    "id": entry_id,
                    "title": message.title or _title(message.text),
                    "updated": now,
                    "content": message.text,
                    "link": message.link,
                }
            )
            entries.sort(key=lambda e: e["updated"])
            self._write(entries[-KEEP_ENTRIES:], now)
        return Receipt(remote_id=entry_id, remote_url=self.options.get("self_url"))

    def _lookup(self, message: Message) -> Receipt | None:
        entry_id = self.entry_id(message)
        for entry in self._read_entries():
            if entry["id"] == entry_id:
                return Receipt(remote_id=entry_id, remote_url=self.options.get("self_url"))
        return None

    def _check(self) -> str:
        folder = self.path.parent
        if not folder.is_dir():
            raise PermanentError(f"{self.name}: folder {folder} does not exist")
        if not os.access(folder, os.W_OK):
            raise PermanentError(f"{self.name}: folder {folder} is not writable")
        return f"{self.path} is writable ({len(self._read_entries())} entries now)"

    @contextmanager
    def _writable(self) -> Iterator[None]:
        """A missing or read-only folder as the permanent error a person can act on."""
        try:
            yield
        except FileNotFoundError:
            raise PermanentError(f"{self.name}: folder {self.path.parent} does not exist") from None
        except PermissionError as exc:
            raise PermanentError(
                f"{self.name}: cannot write {self.path} ({exc.strerror})"
            ) from None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold an exclusive lock on ``<path>.lock`` so daemons rewrite the feed one at a time."""
        with self._writable():
            lock = open(f"{self.path}.lock", "a")
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _read_entries(self) -> list[dict]:
        try:
            root = ElementTree.parse(self.path).getroot()
        except FileNotFoundError:
            return []
        except ElementTree.ParseError as exc:
            raise PermanentError(f"{self.name}: {self.path} is not a valid feed ({exc})") from None
        except OSError as exc:
            raise PermanentError(
                f"{self.name}: cannot read {self.path} ({exc.strerror or type(exc).__name__})"
            ) from None
        try:
            return self._entries(root)
        except (TypeError, ValueError) as exc:  # an entry without a readable <updated>
            raise PermanentError(
                f"{self.name}: {self.path} has an entry Signpost cannot read ({exc})"
            ) from None

    def _entries(self, root: ElementTree.Element) -> list[dict]:
        entries = []
        for node in root.findall(f"{ATOM}entry"):
            link = next(
                (
                    n
                    for n in node.findall(f"{ATOM}link")
                    if n.get("rel", "alternate") == "alternate"
                ),
                None,
            )
            entries.append(
                {
                    "id": node.findtext(f"{ATOM}id"),
                    "title": node.findtext(f"{ATOM}title") or "",
                    "updated": datetime.fromisoformat(node.findtext(f"{ATOM}updated")),
                    "content": node.findtext(f"{ATOM}content") or "",
                    "link": link.get("href") if link is not None else None,
                }
            )
        return entries

    def _write(self, entries: list[dict], now: datetime) -> None:
        from feedgen.feed import FeedGenerator

        feed = FeedGenerator()
        feed.id(self.options.get("feed_id", "urn:signpost"))
        feed.title(self.options.get("title", "Signpost"))
        feed.author({"name": self.options.get("author", "Signpost")})
        feed.updated(now)
        if self.options.get("self_url"):
            feed.link(href=self.options["self_url"], rel="self")
        for item in entries:
            entry = feed.add_entry(order="append")
            entry.id(item["id"])
            entry.title(item["title"])
            entry.updated(item["updated"])
            entry.content(item["content"], type="text")
            if item["link"]:
                entry.link(href=item["link"], rel="alternate")
        data = feed.atom_str(pretty=True)
        with self._writable():
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise TransientError(
                f"{self.name}: writing {self.path} failed ({exc.strerror})"
            ) from None


def _title(text: str, limit: int = 80) -> str:
    first = " ".join(text.split())
    return first if len(first) <= limit else first[: limit - 1] + "…"
