"""Typer's own rendering of ``signpost``'s help, and the copy of the root page kept for
:func:`scheduler.cli.console.main`, which prints it without importing Typer (issue 14).

:mod:`scheduler.cli.roothelp` is written by this module, never by hand::

    .venv/bin/python -m scheduler.cli.helppage

``tests/test_cli_startup.py`` renders the page with Typer and fails, naming that command, as
soon as the copy differs (a command added, renamed or given a new docstring), so the copy
cannot fall behind unseen.
"""

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

REGENERATE = ".venv/bin/python -m scheduler.cli.helppage"
STORED = Path(__file__).with_name("roothelp.py")
#: Typer answering ``signpost ARGS`` with nothing in front of it: main() without the copy
TYPER = "import sys; sys.argv[0] = 'signpost'; from scheduler.cli.commands import app; app()"

HEADER = f'''"""The root help page exactly as Typer prints it on a terminal of 80 columns or more.

Written by ``{REGENERATE}``, never by hand:
tests/test_cli_startup.py fails when it is not Typer's page. :mod:`scheduler.cli.console`
prints it for ``signpost --help`` and a bare ``signpost`` without importing Typer (issue 14).
"""

'''


def typer_answer(args: Sequence[str], columns: int) -> subprocess.CompletedProcess[bytes]:
    """What Typer itself prints for ``signpost ARGS`` on a terminal ``columns`` wide.

    It runs in an interpreter of its own, as the console script would; the width is given as
    ``$COLUMNS``, which Click reads (through ``shutil.get_terminal_size``) before the terminal.
    """
    return subprocess.run(
        [sys.executable, "-c", TYPER, *args],
        env={**os.environ, "COLUMNS": str(columns)},
        capture_output=True,
        check=False,
    )


def stored_module(page: str) -> str:
    """The source of :mod:`scheduler.cli.roothelp` keeping ``page``, ready for ruff format."""
    if '"""' in page:
        raise ValueError('the help page holds """, which the stored copy cannot quote')
    return HEADER + 'PAGE = """\\\n' + page.replace("\\", "\\\\") + '"""\n'


def write() -> None:
    """Store the page ``signpost --help`` prints at Click's full width (80 columns)."""
    done = typer_answer(["--help"], 80)
    done.check_returncode()
    STORED.write_text(stored_module(done.stdout.decode()), encoding="utf-8")


if __name__ == "__main__":
    write()
