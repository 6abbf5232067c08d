"""``signpost channels connect NAME``: the OAuth 2 authorization-code flow with PKCE.

DESIGN §10. The person who owns the account opens the printed address, signs in to the
network and allows Signpost; the network sends the browser back to a loopback redirect
(``http://127.0.0.1:PORT/callback``, which must be registered with the network's app
exactly), where this module takes the code, checks ``state``, and exchanges the code with
the PKCE verifier (S256) for tokens, written to the channel's ``token_file`` (0600).
Nothing of it is printed, logged or stored anywhere else.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from channels.errors import PermanentError
from channels.tokens import Tokens

CALLBACK = "/callback"


@dataclass(frozen=True)
class OAuthApp:
    """What a network's OAuth 2 app needs for the code flow (from the adapter and config)."""

    channel: str
    authorize_url: str
    token_url: str
    scopes: tuple[str, ...]
    client_id: str
    client_secret: str | None = None
    #: send the client secret as form fields (LinkedIn) rather than HTTP Basic (X)
    secret_in_form: bool = False


def pkce_pair() -> tuple[str, str]:
    """A code verifier and its S256 challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def connect(
    app: OAuthApp,
    *,
    port: int,
    show: Callable[[str], None],
    post: Callable[..., Any],
    now: Callable[[], datetime],
    timeout: float = 300,
) -> Tokens:
    """Run the flow: ``show`` the address to open, wait for the redirect, exchange the code.

    ``post`` is an httpx-like ``post(url, data=..., auth=...)`` for the token request.
    PermanentError when the port is taken, the person refuses, ``state`` does not match, the
    wait times out or the network refuses the code.
    """
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(24)
    redirect = f"http://127.0.0.1:{port}{CALLBACK}"
    answer: dict[str, str] = {}
    server = _callback_server(app.channel, port, answer)
    query = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": redirect,
        "scope": " ".join(app.scopes),
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    waiting = threading.Thread(target=_serve_until_answered, args=(server, answer), daemon=True)
    waiting.start()
    try:
        show(f"{app.authorize_url}?{urlencode(query)}")
        waiting.join(timeout)
    finally:
        server.server_close()
    if not answer:
        raise PermanentError(f"{app.channel}: no answer from the browser within {timeout:.0f} s")
    if answer.get("state") != state:
        raise PermanentError(f"{app.channel}: the answer's state does not match; start again")
    if "code" not in answer:
        why = answer.get("error_description") or answer.get("error") or "no code"
        raise PermanentError(f"{app.channel}: the network did not allow access ({why})")
    return exchange(app, answer["code"], redirect, verifier, post=post, now=now)


def exchange(
    app: OAuthApp,
    code: str,
    redirect: str,
    verifier: str,
    *,
    post: Callable[..., Any],
    now: Callable[[], datetime],
) -> Tokens:
    """The code and verifier for tokens at the network's token endpoint."""
    import httpx

    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect,
        "code_verifier": verifier,
        "client_id": app.client_id,
    }
    auth = None
    if app.client_secret and app.secret_in_form:
        form["client_secret"] = app.client_secret
    elif app.client_secret:
        auth = httpx.BasicAuth(app.client_id, app.client_secret)
    try:
        response = post(app.token_url, data=form, auth=auth)
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise PermanentError(
            f"{app.channel}: the token endpoint did not answer properly ({type(exc).__name__})"
        ) from None
    if response.status_code >= 300 or not isinstance(body, dict) or "access_token" not in body:
        why = body.get("error_description") or body.get("error") if isinstance(body, dict) else None
        detail = f": {why}" if why else ""
        raise PermanentError(
            f"{app.channel}: the network refused the code ({response.status_code}{detail})"
        )
    return Tokens.from_answer(body, now())


def _callback_server(channel: str, port: int, answer: dict[str, str]) -> HTTPServer:
    class Callback(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path != CALLBACK:
                self.send_error(404)
                return
            answer.update({k: v[0] for k, v in parse_qs(parts.query).items()})
            page = (
                b"<!doctype html><title>Signpost</title><p>Done: you can close this tab and"
                b" go back to the terminal.</p>"
            )
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *_args: Any) -> None:
            pass  # the query holds the code: never logged

    try:
        return HTTPServer(("127.0.0.1", port), Callback)
    except OSError as exc:
        raise PermanentError(
            f"{channel}: cannot listen on 127.0.0.1:{port} for the redirect"
            f" ({exc.strerror or exc}); choose another --port and register that redirect URI"
        ) from None


def _serve_until_answered(server: HTTPServer, answer: dict[str, str]) -> None:
    server.timeout = 0.2
    while not answer:
        try:
            server.handle_request()
        except (OSError, ValueError):  # closed under us: the wait timed out
            return
