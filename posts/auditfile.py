"""Reading an audit export back (``signpost audit export``), to prove it without the database.

Whoever receives an export (a Freedom of Information request, an auditor) can check its chain
with ``signpost audit verify --file FILE``: no config, no database. The file is CSV (a header
row naming the columns, as the export writes it) or JSON Lines (one event object per line),
told apart by its first character. Anything that is not an event as the export writes it
stops the check with one line naming the file and the line.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from posts.audit import EXPORT_COLUMNS
from posts.canonical import canonical_json
from posts.errors import UserError

_EXPECTED = ",".join(EXPORT_COLUMNS)
_TEXT = ("time", "actor", "action", "subject", "prev_hash", "hash")


class ExportFile:
    """One export file, read as ``posts.audit.verify`` takes rows.

    ``line`` is the last line read: where the last row came from, so that a break in the
    chain can be placed in the file too.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.line = 0

    def rows(self) -> Iterator[tuple[int, str, str, str, str, str, str, str]]:
        """Every event of the file in file order, its details as JSON text: as the CSV has
        them, or re-serialised canonically from a JSON Lines event's object."""
        try:
            with self.path.open("rb") as file:
                lines = self._lines(file)
                first = next(lines, "")
                events = self._jsonl if first.startswith("{") else self._csv
                yield from events(itertools.chain([first], lines))
        except OSError as exc:
            raise UserError(f"{self.path}: cannot be read ({exc.strerror})") from None

    def error(self, problem: str) -> UserError:
        """``problem`` at the current line, as one line naming the file."""
        return UserError(f"{self.path}, line {self.line}: {problem}")

    def _lines(self, file: IO[bytes]) -> Iterator[str]:
        """The file's lines as text, ``line`` counting them; a byte order mark at the start
        (a spreadsheet saved it) is not part of the text."""
        for raw in file:
            self.line += 1
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise self.error("not UTF-8 text") from None
            yield text.removeprefix("\ufeff") if self.line == 1 else text

    def _jsonl(self, lines: Iterator[str]) -> Iterator[tuple]:
        for text in lines:
            if not text.strip():
                continue
            try:
                event = json.loads(text)
            except ValueError:
                event = None
            if not isinstance(event, dict):
                raise self.error("not a JSON object (each line of a JSON Lines export is an event)")
            if missing := [c for c in EXPORT_COLUMNS if c not in event]:
                raise self.error(f"missing {', '.join(missing)} (an event has {_EXPECTED})")
            yield self._row(event, canonical_json(event["details"]).decode("utf-8"))

    def _csv(self, lines: Iterator[str]) -> Iterator[tuple]:
        reader = csv.reader(lines)
        try:
            header = next(reader, None)
            if header is None:
                return
            if missing := [c for c in EXPORT_COLUMNS if c not in header]:
                raise self.error(
                    f"missing column(s) {', '.join(missing)}: the first line of a CSV export"
                    f" names its columns, {_EXPECTED}"
                )
            where = [header.index(c) for c in EXPORT_COLUMNS]
            for fields in reader:
                if len(fields) != len(header):
                    raise self.error(f"{len(fields)} field(s), the header names {len(header)}")
                event = {c: fields[i] for c, i in zip(EXPORT_COLUMNS, where, strict=True)}
                yield self._row(event, event["details"])
        except csv.Error as exc:
            raise self.error(f"not CSV ({exc})") from None

    def _row(self, event: dict[str, Any], details: str) -> tuple:
        """The event as a chain row, or a ``UserError`` naming the field that is wrong."""
        seq = event["seq"]
        if isinstance(seq, str) and seq.isdigit():
            seq = int(seq)
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise self.error(f"seq {seq!r} is not a whole number")
        if wrong := [c for c in _TEXT if not isinstance(event[c], str)]:
            raise self.error(f"{', '.join(wrong)} must be text")
        return (seq, *(event[c] for c in _TEXT[:4]), details, event["prev_hash"], event["hash"])
