"""The review page as an ASGI application: routes, sessions, CSRF, headers, error pages.

From the outside in: security headers on every response (and HttpOnly on every cookie), the
CSRF check on every POST (asgi-csrf: a signed token in a cookie that must match the form's),
then Starlette with its signed, expiring session cookie. Error pages say what happened in
words; a traceback goes to the log, never to the browser.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from scheduler.web import actions, pages, signin
from scheduler.web.site import SignInNeeded, Site
from scheduler.web.throttle import Throttle
from scheduler.workspace import Workspace

log = logging.getLogger("signpost.web")
STATIC = Path(__file__).with_name("static")
SESSION_COOKIE = "signpost_session"
CSRF_COOKIE = "signpost_csrf"
CSRF_FIELD = "csrftoken"  # asgi-csrf's form field name; the templates use it
HEADERS = {
    b"content-security-policy": b"default-src 'self'; frame-ancestors 'none'",
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"same-origin",
    b"x-frame-options": b"DENY",
    b"cache-control": b"no-store",
}
MESSAGES = {
    403: ("Not allowed", "You are not allowed to do that."),
    404: ("Not found", "There is nothing at this address."),
    405: ("Not allowed", "That address does not take this kind of request."),
}


def create_app(ws: Workspace, *, secret: str) -> Any:
    """The application for ``ws``; ``secret`` signs session and CSRF cookies."""
    site = Site(ws=ws, throttle=Throttle(ws.clock))
    if ws.settings.web.auth == "oidc":
        site.oidc = signin.oidc_client(site)
    secure = ws.settings.web.secure_cookies
    app = Starlette(
        routes=[
            *signin.routes(),
            *pages.routes(),
            *actions.routes(),
            Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
        ],
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=secret,
                session_cookie=SESSION_COOKIE,
                max_age=ws.settings.web.session_hours * 3600,
                same_site="lax",
                https_only=secure,
            )
        ],
        exception_handlers={
            SignInNeeded: _sign_in_first,
            HTTPException: _http_error,
            Exception: _server_error,
        },
    )
    app.state.site = site
    return SecurityHeaders(_csrf(app, secret, secure))


def _csrf(app: Any, secret: str, secure: bool) -> Any:
    from asgi_csrf import asgi_csrf

    return asgi_csrf(
        app,
        signing_secret=secret,
        cookie_name=CSRF_COOKIE,
        cookie_secure=secure,
        cookie_samesite="Lax",
        always_protect={"/sign-in", "/sign-out"},  # checked even without any cookie
        send_csrf_failed=_csrf_failed,
    )


class SecurityHeaders:
    """Adds the security headers and makes every cookie HttpOnly (none is for scripts)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(event: dict) -> None:
            if event["type"] == "http.response.start":
                headers = [
                    (
                        k,
                        v + b"; HttpOnly"
                        if k == b"set-cookie" and b"httponly" not in v.lower()
                        else v,
                    )
                    for k, v in event.get("headers", [])
                    if k not in HEADERS
                ]
                event = {**event, "headers": headers + list(HEADERS.items())}
                log.info("%s %s %s", scope["method"], scope["path"], event["status"])
            await send(event)

        await self.app(scope, receive, with_headers)


def _page(title: str, text: str, status: int) -> HTMLResponse:
    """A plain error page (no template engine involved, so it cannot fail itself)."""
    from html import escape

    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(title)} · Signpost</title><link rel="stylesheet"'
        ' href="/static/signpost.css"></head><body><main id="main">'
        f"<h1>{escape(title)}</h1><p>{escape(text)}</p>"
        '<p><a href="/queue">Back to the review queue</a></p></main></body></html>'
    )
    return HTMLResponse(body, status_code=status)


async def _sign_in_first(request: Request, _exc: Exception) -> Response:
    if request.method == "GET":
        from urllib.parse import quote

        return RedirectResponse(f"/sign-in?next={quote(request.url.path)}", status_code=303)
    return _page("Signed out", "Sign in again: nothing was changed.", 403)


async def _http_error(_request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    title, text = MESSAGES.get(status, ("Something went wrong", "The request was not understood."))
    return _page(title, text, status)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    from posts.store import DatabaseUnreachable

    if isinstance(exc, DatabaseUnreachable):
        return _page("Database unavailable", str(exc), 503)
    return _page(
        "Something went wrong",
        "Nothing was changed. The error is in the server's log; tell whoever runs Signpost.",
        500,
    )


async def _csrf_failed(_scope: dict, send: Any, _reason: Any) -> None:
    response = _page(
        "Form expired",
        "This form was too old or did not come from this site, so nothing was changed."
        " Go back, reload the page and try again.",
        403,
    )
    await response({"type": "http"}, None, send)
