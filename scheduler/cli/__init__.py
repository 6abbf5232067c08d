"""The ``signpost`` command line (DESIGN §6).

Commands are thin: each parses its arguments, calls ``posts/`` (or the engine) inside one
unit of work, and renders. The rules and the queries are in ``posts/``, where a web page
finds the same ones. Heavy modules (SQLModel, Alembic, Rich tables) are imported inside the
commands so that ``signpost --help`` stays quick. One handler (:mod:`scheduler.cli.errors`)
turns every ``SignpostError`` into one line on stderr and its exit code (1 user error, 3
refused by policy); usage errors stay 2, as Click makes them.

- ``console``: ``main()``, the console script, which prints the root help page without
  Typer (issue 14) from the copy in ``roothelp``, written and checked by ``helppage``
- ``groups``: the Typer app and its command groups; ``commands``: the app with every command
  module imported, in the order the root help page lists them
- ``options``: shared option types and the unit of work (``reading``, ``writing``)
- ``errors``: the error handler
- ``status``: init, status; ``views``: calendar, report
- ``campaigns``: campaign add, edit, list, show
- ``posts``: post add, edit, show, list, check; ``review``: post preview, submit, approve,
  reject, cancel
- ``scheduling``: post schedule, post queue, campaign slots
- ``operations``: pause, resume, daemon, demo, channels list and check, post import;
  ``connect``: channels connect (OAuth 2 with PKCE, writes the token_file)
- ``deliveries``: deliveries list, retry, resolve, cancel, reschedule; ``audit``: audit log,
  verify, export
- ``users``: users set-password, list (web sign-in passwords); ``web``: the review page
"""

from typing import Any

__all__ = ["HELP", "app", "main"]


def __getattr__(name: str) -> Any:
    """``main``, ``app`` and ``HELP``, each imported when first asked for.

    Importing this package imports nothing else, because the console script imports it
    before :func:`scheduler.cli.console.main` can decide whether Typer and the command
    modules are needed at all. (No module here is named like these three: importing a
    submodule sets the package attribute of its name, which would hide ``__getattr__``.)
    """
    if name == "main":
        from scheduler.cli.console import main

        return main
    if name in ("app", "HELP"):
        from scheduler.cli import commands

        return getattr(commands, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
