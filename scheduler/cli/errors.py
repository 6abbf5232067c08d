"""One handler for every error meant for the user: one line on stderr and its exit code.

Each ``posts.errors.SignpostError`` carries its exit code: 1 for a user error (bad input,
an unknown id, a wrong config file: ``UserError``, ``ConfigError``), 3 for a refusal by
policy (``PolicyRefused``: four-eyes, a role, a content rule). Usage errors stay 2, as Click
makes them. No traceback: the one line names what was wrong and what was expected.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from collections.abc import Iterator


@contextmanager
def reported() -> Iterator[None]:
    """Turn a ``SignpostError`` raised inside into its line on stderr and its exit code.

    An error that lists problems (``problems``: an import's "row N, column C: ..." lines)
    has each printed on a line of its own first, then the one-line summary.
    """
    from posts.errors import SignpostError
    from scheduler.output import error

    try:
        yield
    except SignpostError as exc:
        for line in getattr(exc, "problems", ()):
            sys.stderr.write(f"{line}\n")
        error(str(exc))
        raise typer.Exit(exc.exit_code) from None
