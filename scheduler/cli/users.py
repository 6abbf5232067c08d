"""``signpost users set-password|list``: password sign-in for the web page (auth = "password").

Who the users are and what roles they hold stays in the config's ``[users]``; these commands
only keep the password a user signs in with (as an argon2id hash, in ``posts.accounts``).
"""

from typing import Annotated

import typer

from scheduler.cli.groups import users_app
from scheduler.cli.options import FormatOpt, reading, say, writing
from scheduler.output import Format


@users_app.command("set-password")
def users_set_password(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The user, as named in the config's [users].")],
) -> None:
    """Set a user's web sign-in password: your own, or anyone's if you are an admin.

    The password is read from the first line of stdin when stdin is not a terminal;
    otherwise it is asked for twice without echo. It is never shown, logged or audited.

    Example:

        signpost users set-password alice

        pass show signpost/alice | signpost users set-password alice
    """
    from posts import accounts

    password = _read_password(name)
    with writing(ctx) as (ws, session):
        accounts.set_password(
            session,
            ws.actor(),
            ws.clock.now(),
            user=name,
            password=password,
            known_users=ws.settings.users,
        )
    say(f"password set for {name}")


def _read_password(name: str) -> str:
    import sys

    from posts.errors import UserError

    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = typer.prompt(f"New password for {name}", hide_input=True, err=True)
    second = typer.prompt("The same again", hide_input=True, err=True)
    if first != second:
        raise UserError(f"the two passwords for {name} differ: nothing changed")
    return first


@users_app.command("list")
def users_list(ctx: typer.Context, fmt: FormatOpt = Format.table) -> None:
    """List the config's users, their roles and whether they can sign in with a password.

    Example:

        signpost users list --format json
    """
    from posts import accounts
    from scheduler.output import render

    with reading(ctx) as (ws, session):
        rows = accounts.list_accounts(session, ws.settings.users)
    render(rows, ["user", "roles", "password", "updated"], fmt)
