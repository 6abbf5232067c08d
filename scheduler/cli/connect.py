"""``signpost channels connect NAME``: authorize Signpost on a network, write its token_file."""

from typing import Annotated

import typer

from scheduler.cli.groups import channels_app
from scheduler.cli.options import require_channel, say, workspace

DEFAULT_PORT = 8976


@channels_app.command("connect")
def channels_connect(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The channel, as named in the config.")],
    port: Annotated[
        int,
        typer.Option(
            "--port", help="Loopback port of the redirect URI registered with the network."
        ),
    ] = DEFAULT_PORT,
) -> None:
    """Sign in to the network as the account and allow Signpost (OAuth 2 with PKCE).

    Prints the address to open (on stdout, alone); after you allow access the network
    redirects to http://127.0.0.1:PORT/callback, and the tokens are written to the
    channel's token_file (mode 0600), from where the daemon refreshes them. Register that
    redirect URI with your app on the network first (docs/channels.md).

    Example:

        signpost channels connect x

        signpost channels connect x --port 9000    # the port your app registered
    """
    import httpx

    from channels.base import ChannelError
    from channels.connect import connect
    from channels.tokens import TokenFile
    from posts.errors import UserError
    from scheduler.workspace import open_channels

    ws = workspace(ctx, initialised=False)
    configured = ws.settings.channels
    require_channel(configured, name)
    path = configured[name].options.get("token_file")
    with httpx.Client(timeout=30) as client:
        adapter = open_channels(ws.settings, ws.clock, client).get(name)
        if adapter is None or not hasattr(adapter, "oauth_app"):
            raise UserError(
                f"channel '{name}' ({configured[name].type}) has no OAuth connection:"
                " put its token in token_env or token_file"
            )
        if not path:
            raise UserError(f"[channels.{name}] token_file: set the file the tokens are kept in")
        try:
            app = adapter.oauth_app()
            say(f"Open this address, sign in as the account for '{name}' and allow access:")
            tokens = connect(app, port=port, show=typer.echo, post=client.post, now=ws.clock.now)
        except ChannelError as exc:
            raise UserError(str(exc)) from None
    TokenFile(name, path).write(tokens)
    until = f", valid until {tokens.expires_at:%Y-%m-%d %H:%M} UTC" if tokens.expires_at else ""
    renew = "; refreshed automatically" if tokens.refresh_token else ""
    say(f"connected '{name}': tokens written to {path}{until}{renew}")
