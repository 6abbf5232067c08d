"""The whole command tree of ``signpost``: the Typer app with every command registered.

Each command module registers its commands as it is imported, and ``signpost --help`` lists
them in that order: keep this order (and keep isort from sorting it). Importing this module
is what every command but the root help page costs before it runs (Typer and the command
modules, about 60 ms); :mod:`scheduler.cli.console` imports it only when Typer must answer.
"""

from scheduler.cli.groups import HELP, app

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

__all__ = ["HELP", "app"]
