"""``signpost web``: the approvers' review page (DESIGN §11), in the foreground."""

import typer

from posts.errors import UserError
from scheduler.cli.groups import app
from scheduler.cli.options import workspace


@app.command()
def web(ctx: typer.Context) -> None:
    """Serve the review page where approvers read posts as each channel will show them
    and approve or reject them, until stopped (SIGTERM or Ctrl-C).

    Where it listens, its public address and how people sign in (auth = "password" or
    "oidc") are in the config's [web] table; put it behind a TLS proxy (docs/web.md).
    It needs the database but no channel secret. Needs the web extra:
    pip install 'signpost[web]'.

    Example:

        signpost --config /etc/signpost/config.toml web

        signpost users set-password alice    # password sign-in: set one first
    """
    import logging

    try:  # everything the extra brings, before the database is even opened
        import asgi_csrf  # noqa: F401
        import authlib  # noqa: F401
        import uvicorn  # noqa: F401

        import scheduler.web.app  # noqa: F401  (Starlette, Jinja2)
        from scheduler.web.serve import serve
    except ImportError as exc:
        raise UserError(
            f"the review page needs the web extra ({exc.name} is missing):"
            " pip install 'signpost[web]'"
        ) from None
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    serve(workspace(ctx))
