"""The ``signpost`` command line (DESIGN §6).

Commands are thin: each parses its arguments, calls ``posts/`` (or the engine) inside one
unit of work, and renders. The rules and the queries are in ``posts/``, where a web page
finds the same ones. Heavy modules (SQLModel, Alembic, Rich tables) are imported inside the
commands so that ``signpost --help`` stays quick. One handler (:mod:`scheduler.cli.errors`)
turns every ``SignpostError`` into one line on stderr and its exit code (1 user error, 3
refused by policy); usage errors stay 2, as Click makes them.

- ``app``: the Typer app, its command groups and ``main()`` (the console script)
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

from scheduler.cli.app import HELP, app, main

# Each command module registers its commands as it is imported, and 'signpost --help' lists
# them in that order: keep this order (and keep isort from sorting it).
# isort: off
from scheduler.cli import status  # noqa: F401  init, status
from scheduler.cli import views  # noqa: F401  calendar, report
from scheduler.cli import campaigns  # noqa: F401
from scheduler.cli import posts  # noqa: F401
from scheduler.cli import review  # noqa: F401
from scheduler.cli import scheduling  # noqa: F401  post schedule, queue; campaign slots
from scheduler.cli import operations  # noqa: F401  pause ... demo; channels; post import
from scheduler.cli import connect  # noqa: F401  channels connect
from scheduler.cli import deliveries  # noqa: F401
from scheduler.cli import audit  # noqa: F401
from scheduler.cli import users  # noqa: F401  users set-password, list
from scheduler.cli import web  # noqa: F401  the review page

# isort: on

__all__ = ["HELP", "app", "main"]
