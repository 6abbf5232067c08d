"""Every ``--help`` prints its examples exactly as written, at any width (issue 9).

The examples are meant to be pasted into a shell, so a re-wrapped line (a long command split
in two, a ``\\`` continuation joined onto the next line) is a bug even though it reads fine.
``tests/test_docs.py`` checks that every command has an "Example:" section; here we check that
the section has command lines and that they survive rendering.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from scheduler.cli import HELP, app

# 60 is a narrow terminal; 200 is wider than Click's 80-column cap, which a width passed to
# the context bypasses. CliRunner pins Click's width at 80 and ignores $COLUMNS, so the width
# is given as terminal_width (test_width_takes_effect proves that it is honoured).
WIDTHS = (60, 200)


def every_command(
    command: Any = None, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    """The root, every group and every command, each with its argument path."""
    command = command or get_command(app)
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from every_command(sub, (*path, name))


COMMANDS = list(every_command())


def example_lines(help_text: str) -> list[str]:
    """The lines under "Example:" as written, dedented together, blank lines between kept.

    The section is the indented lines after the "Example:" line, up to the next line that is
    not indented (or the end of the help).
    """
    lines = help_text.expandtabs().splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() in ("Example:", "Examples:")]
    if not starts:
        return []
    section: list[str] = []
    for line in lines[starts[0] + 1 :]:
        if line.strip() and not line[0].isspace():
            break
        section.append(line.rstrip())
    while section and not section[-1]:
        section.pop()
    while section and not section[0]:
        section.pop(0)
    margin = min((len(line) - len(line.lstrip()) for line in section if line), default=0)
    return [line[margin:] for line in section]


def render_help(path: tuple[str, ...], width: int) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=width)
    assert result.exit_code == 0, result.output
    return result.stdout


def _ids(commands: list[tuple[tuple[str, ...], Any]]) -> list[str]:
    return [" ".join(("signpost", *path)) for path, _ in commands]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=_ids(COMMANDS))
def test_examples_are_printed_verbatim(path, command, width):
    examples = example_lines(command.help or "")
    if not getattr(command, "commands", None):  # a command you run, not a group
        assert examples, f"{' '.join(path)}: 'Example:' has no indented command lines"
    if not examples:
        return
    out = render_help(path, width).splitlines()
    first = examples[0]
    found = [line for line in out if line.lstrip() == first]
    assert found, f"first example line re-wrapped or missing at width {width}:\n{first}"
    prefix = found[0][: len(found[0]) - len(first)]
    expected = [f"{prefix}{line}" if line else "" for line in examples]
    start = out.index(found[0])
    assert out[start : start + len(expected)] == expected, f"examples not verbatim at width {width}"


def test_width_takes_effect_and_prose_still_wraps():
    """At 60 columns prose is re-wrapped to fit; at 200 a long sentence stays on one line."""
    sentence = HELP.splitlines()[0]
    assert len(sentence) > 60
    narrow = render_help((), 60).splitlines()
    assert f"  {sentence}" not in narrow
    first = next(line for line in narrow if line.startswith("  Schedule,"))
    assert len(first) <= 60
    assert sentence.startswith(first.strip())
    assert f"  {sentence}" in render_help((), 200).splitlines()
