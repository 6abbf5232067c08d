"""Help output whose examples can be pasted into a shell (issue 9).

Click re-wraps every paragraph of a command's help to the terminal width. That is right for
prose but wrong for the indented command lines under "Example:": a narrow terminal splits a
long command in two and joins a ``\\`` continuation line onto the next one, so what is shown
no longer runs when pasted. Here an indented paragraph is a literal block, as in
reStructuredText: it is printed exactly as written, whatever the width, and only the prose
around it is wrapped.

The formatter is chosen by the context, and every Click command makes its own context, so
:func:`use_pasteable_help` gives each command of the tree the context defined here; the root
group calls it once, which keeps docstrings free of Click's ``\\b`` markers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from collections.abc import Iterator

# Click's HelpFormatter, reached through the context rather than imported, because recent
# Typer releases vendor Click (``typer._click``) while older ones depend on the click package.
_ClickHelpFormatter: Any = typer.Context.formatter_class

NO_REWRAP = "\b"  # Click's own marker for a paragraph it must not re-wrap


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _paragraphs(lines: list[str]) -> Iterator[list[str]]:
    """Runs of non-blank lines; blank (or whitespace-only) lines separate them."""
    run: list[str] = []
    for line in lines:
        if line.strip():
            run.append(line)
        elif run:
            yield run
            run = []
    if run:
        yield run


def split_literal_blocks(text: str) -> list[tuple[bool, list[str]]]:
    """Cut help text into prose and literal chunks, each a list of lines, in order.

    A paragraph is literal when its first line is indented further than the text's least
    indented line (the text is normally already dedented by ``inspect.cleandoc``). A literal
    chunk's lines are returned dedented by that base indentation, with blank lines between
    its paragraphs; a paragraph opened by Click's ``\\b`` marker stays prose so that Click
    keeps handling it as before.
    """
    lines = text.expandtabs().splitlines()
    base = min((_indent(line) for line in lines if line.strip()), default=0)
    chunks: list[tuple[bool, list[str]]] = []
    for paragraph in _paragraphs(lines):
        first = paragraph[0]
        literal = _indent(first) > base and first.strip() != NO_REWRAP
        body = [line[base:].rstrip() for line in paragraph] if literal else paragraph
        if chunks and chunks[-1][0] == literal:
            chunks[-1][1].extend(["", *body])
        else:
            chunks.append((literal, body))
    return chunks


class PasteableHelpFormatter(_ClickHelpFormatter):
    """Click's formatter, except that indented blocks are written verbatim, never re-wrapped."""

    def write_text(self, text: str) -> None:
        """Wrap prose as Click does; copy literal blocks line by line at the current indent.

        Chunks are separated by one blank line, the same spacing Click puts between the
        paragraphs it wraps, so help without examples looks exactly as before.
        """
        for number, (literal, lines) in enumerate(split_literal_blocks(text)):
            if number:
                self.write("\n")
            if not literal:
                super().write_text("\n".join(lines))
                continue
            indent = " " * self.current_indent
            self.write("".join(f"{indent}{line}\n" if line else "\n" for line in lines))


class PasteableContext(typer.Context):
    """A context whose help formatter keeps example blocks verbatim."""

    formatter_class = PasteableHelpFormatter


def use_pasteable_help(command: Any) -> None:
    """Make *command* and every command below it render help with :class:`PasteableContext`.

    Click builds each command's context from that command's own ``context_class`` (its
    documented customisation point), so setting it on the root alone would only fix the root's
    help. Typer builds the whole tree before the root group's ``__init__`` runs, which is where
    this is called.
    """
    command.context_class = PasteableContext
    for sub in getattr(command, "commands", {}).values():
        use_pasteable_help(sub)
