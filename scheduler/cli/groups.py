"""The Typer app of ``signpost``: the root group and its command groups.

The commands are in the modules beside this one, a module per group of commands; each
registers its commands on these apps when it is imported, and :mod:`scheduler.cli.commands`
imports them all. Nothing here imports a command module, so no module imports back. The
console script is :func:`scheduler.cli.console.main`, which answers the root help page
without importing this module at all (issue 14).

The command modules do not use ``from __future__ import annotations``: Typer reads every
command's signature each time ``signpost`` starts, and string annotations would make it
``eval`` each of them twice (27 ms of every run, ``--help`` included; docs/decisions.md).
"""

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from scheduler.cli.errors import reported
from scheduler.helpformat import use_pasteable_help


class SignpostGroup(TyperGroup):
    """The root group: maps user errors to one stderr line and an exit code
    (:func:`scheduler.cli.errors.reported`).

    It also makes every command's ``--help`` print its examples verbatim, so that they can be
    pasted at any terminal width (issue 9; see :mod:`scheduler.helpformat`).
    """

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        use_pasteable_help(self)  # Typer has built the whole tree by now

    def invoke(self, ctx: Any) -> Any:
        with reported():
            return super().invoke(ctx)


HELP = """Schedule, approve and publish awareness-campaign posts, with an audit log.

Nothing goes out unapproved, nothing goes out twice, nothing is lost silently.

Example:

    signpost init

    signpost campaign add stop-it-now --name "Stop It Now" --must-include "0808 1000 900"

    signpost post add --campaign stop-it-now --text "Confidential help: 0808 1000 900"
"""


app = typer.Typer(
    cls=SignpostGroup, help=HELP, no_args_is_help=True, add_completion=False, rich_markup_mode=None
)

campaign_app = typer.Typer(help="Create and inspect campaigns.", no_args_is_help=True)
post_app = typer.Typer(help="Write, check, submit, approve and cancel posts.", no_args_is_help=True)
audit_app = typer.Typer(
    help="Read, verify and export the hash-chained audit log.", no_args_is_help=True
)
app.add_typer(campaign_app, name="campaign")
app.add_typer(post_app, name="post")
app.add_typer(audit_app, name="audit")
deliveries_app = typer.Typer(
    help="See every delivery, retry one on purpose, or settle an uncertain one.",
    no_args_is_help=True,
)
channels_app = typer.Typer(
    help="List configured channels and check they work.", no_args_is_help=True
)
app.add_typer(deliveries_app, name="deliveries")
app.add_typer(channels_app, name="channels")
users_app = typer.Typer(
    help="Set the passwords people sign in to the web page with, and see who can.",
    no_args_is_help=True,
)
app.add_typer(users_app, name="users")


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="Config file [default: $SIGNPOST_CONFIG or ./config.toml]."
        ),
    ] = None,
) -> None:
    """Remember the config path; nothing is loaded until a command needs it."""
    preset = ctx.obj if isinstance(ctx.obj, dict) else {}
    ctx.obj = {"config": config, "clock": preset.get("clock"), "workspace": None}
