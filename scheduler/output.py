"""Rendering for people (Rich tables on stdout, messages on stderr) and for pipes (JSON).

DESIGN §8: with ``--format json`` stdout carries nothing but JSON: an array for a listing, an
object for ``show`` and creating commands. Everything meant for a person to read and not for
a pipe (confirmations, hints, errors) goes to stderr.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import date
from enum import Enum, StrEnum
from typing import Any

PIPE_WIDTH = 160


class Format(StrEnum):
    """Output formats every listing takes."""

    table = "table"
    json = "json"


def message(text: str) -> None:
    """A line for the person at the terminal, on stderr."""
    from rich.console import Console

    Console(stderr=True, highlight=False, soft_wrap=True).print(text, markup=False)


def error(text: str) -> None:
    """An error line on stderr, plain so it greps and pipes well."""
    sys.stderr.write(f"error: {text}\n")


def emit_json(value: Any) -> None:
    """``value`` as JSON on stdout, and nothing else."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n")


def readable(value: Any) -> str:
    """``value`` on one line as people read it, never as a Python repr.

    None and empty containers are blank, enums their value, booleans yes/no, times ISO 8601;
    a list is "a, b", a mapping "key: value, key: value", and a container inside another is
    bracketed so "media: (alt: ..., sha256: ...)" stays unambiguous.
    """
    if value is None:
        return ""
    if isinstance(value, Enum):
        return readable(value.value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    if isinstance(value, Mapping):
        return ", ".join(f"{readable(k)}: {_nested(v)}" for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(_nested(v) for v in value)
    return str(value)


def _nested(value: Any) -> str:
    """A value inside a container: bracketed when it is one itself, "-" when it is empty."""
    text = readable(value)
    if not text:
        return "-"
    if isinstance(value, Mapping | list | tuple | set | frozenset):
        return f"({text})"
    return text


def readable_lines(value: Any) -> str:
    """``value`` for a ``show`` table: an item per line, a mapping's "key: value" per line.

    Text keeps its own line breaks (a post's words are shown as written).
    """
    if isinstance(value, Mapping):
        return "\n".join(f"{readable(k)}: {_nested(v)}" for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return "\n".join(readable(v) for v in value)
    return readable(value)


def _cell(value: Any, width: int | None) -> str:
    """A listing's cell: one line, cut to ``width`` characters when given."""
    text = " ".join(readable(value).split())
    if width and len(text) > width:
        text = text[: width - 1] + "…"
    return text


def render(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    fmt: Format,
    *,
    widths: Mapping[str, int] | None = None,
    title: str | None = None,
) -> None:
    """A listing: a Rich table of ``columns`` for people, or every key as a JSON array."""
    if fmt == Format.json:
        emit_json(list(rows))
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        # Short columns never wrap; the long free-text ones (given a width) take the squeeze.
        wraps = column in (widths or {})
        table.add_column(column, overflow="fold", no_wrap=not wraps)
    for row in rows:
        # Text, not markup: a post's "[newsroom]" or "[b]" is shown as written.
        table.add_row(*(Text(_cell(row.get(c), (widths or {}).get(c))) for c in columns))
    _console().print(table)


def show(obj: Mapping[str, Any], fmt: Format, *, title: str | None = None) -> None:
    """One object: key/value table for people, or a JSON object."""
    if fmt == Format.json:
        emit_json(dict(obj))
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in obj.items():
        table.add_row(Text(key), Text(readable_lines(value)))
    _console().print(table)


def _console():  # type: ignore[no-untyped-def]
    """stdout for tables: the terminal's width, or wide lines when piped (they grep better)."""
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=PIPE_WIDTH)
    return console
