"""``signpost web`` in the foreground: take the port, then let uvicorn serve the app.

The socket is bound before uvicorn starts so that a busy port or a bad address is one line
naming ``[web] listen``, not a traceback from inside the server. Access logs are our own
("METHOD path status", no query string), because uvicorn's would carry a sign-in's
``code`` and ``state`` parameters.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from typing import Any

from posts.errors import UserError
from scheduler.daemon import cannot_listen
from scheduler.workspace import Workspace

SECRET_ENV = "SIGNPOST_SESSION_SECRET"
log = logging.getLogger("signpost.web")


def session_secret() -> str:
    """The key that signs session and CSRF cookies.

    From ``$SIGNPOST_SESSION_SECRET`` when set (sessions then survive a restart and several
    web processes behind one proxy agree); otherwise a fresh random key for this process, so
    a restart signs everyone out and nothing secret is ever written down by us.
    """
    return os.environ.get(SECRET_ENV) or secrets.token_urlsafe(32)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket for ``[web] listen``, or a UserError saying why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise UserError(cannot_listen("[web] listen", f"{host}:{port}", exc)) from None
    return sock


def serve(ws: Workspace) -> None:
    """Serve the review page until SIGTERM or Ctrl-C (uvicorn stops cleanly on either)."""
    import uvicorn

    from scheduler.web.app import create_app

    web = ws.settings.web
    app = create_app(ws, secret=session_secret())
    sock = bind(web.host, web.port)
    where = web.base_url or f"http://{web.host}:{web.port}"
    log.info(
        "review page on %s (listening on %s:%s, sign-in: %s)", where, web.host, web.port, web.auth
    )
    config = uvicorn.Config(
        app, access_log=False, proxy_headers=True, forwarded_allow_ips="127.0.0.1", log_config=None
    )
    _server(config).run(sockets=[sock])


def _server(config: Any) -> Any:
    """uvicorn's server, exiting 0 on SIGTERM or Ctrl-C like the daemon does.

    (uvicorn shuts down cleanly, then raises the signal again so that the process dies of
    it; systemd and shells would report that as a failure.)
    """
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            self._captured_signals.clear()

    return Server(config)
