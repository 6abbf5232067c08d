"""What the command modules share: option types, the unit of work, and messages.

A command opens one unit of work and hands its session to ``posts/``: ``writing(ctx)`` for
one write transaction, ``reading(ctx)`` for a read-only session. That is all the session
handling a command does; the queries and the rules are in ``posts/``. (The session is typed
``Any`` here on purpose: the CLI names no database type, not even for a type checker.)
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from scheduler.output import Format

if TYPE_CHECKING:
    from collections.abc import Iterator

    from scheduler.workspace import Workspace


FormatOpt = Annotated[
    Format, typer.Option("--format", "-f", help="table for people, json for pipes.")
]

PostId = Annotated[int, typer.Argument(help="The post's id (see 'signpost post list').")]


def workspace(ctx: typer.Context, *, initialised: bool = True) -> Workspace:
    """The command's workspace; refuses a database that 'signpost init' has not prepared."""
    from scheduler.workspace import Workspace

    root = ctx.find_root()
    obj = root.obj
    if obj["workspace"] is None:
        obj["workspace"] = Workspace.open(obj["config"], obj["clock"])
        root.call_on_close(obj["workspace"].store.close)
        collect_garbage()
        if initialised:
            obj["workspace"].store.require_current()
    return obj["workspace"]


def collect_garbage() -> None:
    """Turn the garbage collector back on if ``signpost``'s ``main()`` turned it off while
    the modules loaded; what they built is frozen first, as it lives as long as the process.

    From here on the command's own garbage is collected as usual (a daemon runs for months).
    Where the collector was never turned off (tests, an embedding program), nothing changes.
    """
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


@contextmanager
def writing(ctx: typer.Context) -> Iterator[tuple[Workspace, Any]]:
    """One write transaction for the whole command."""
    ws = workspace(ctx)
    with ws.store.transaction() as session:
        yield ws, session


@contextmanager
def reading(ctx: typer.Context) -> Iterator[tuple[Workspace, Any]]:
    """A read-only session for the whole command."""
    ws = workspace(ctx)
    with ws.store.read() as session:
        yield ws, session


def say(text: str) -> None:
    """A line for the person at the terminal (stderr), never for a pipe."""
    from scheduler.output import message

    message(text)


def require_channel(configured: Any, name: str) -> None:
    """Refuse a channel name the config does not have, listing the ones it does."""
    from posts.errors import UserError

    if name not in configured:
        raise UserError(
            f"no channel named '{name}' (configured: {', '.join(sorted(configured)) or 'none'})"
        )


def split_names(channels: str) -> list[str]:
    """Channel names from a comma-separated option."""
    return [n.strip() for n in channels.split(",") if n.strip()]
