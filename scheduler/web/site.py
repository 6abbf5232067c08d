"""What every request handler shares: the workspace, the templates, the signed-in actor,
one write transaction per action, and messages carried across a redirect.

(Sessions are typed ``Any``, as in the CLI: the page names no database type; every query
and rule is a ``posts/`` function.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from posts import audit
from posts.policy import Actor
from posts.times import wall_clock
from scheduler.web.throttle import Throttle
from scheduler.workspace import Workspace

TEMPLATES = Path(__file__).with_name("templates")
SESSION_USER = "user"
SESSION_SINCE = "since"
_FLASH = "flash"


class SignInNeeded(Exception):
    """No one (or no one who may still sign in) is signed in on this request."""


@dataclass
class Site:
    """The review page's shared state, kept on ``app.state.site``."""

    ws: Workspace
    throttle: Throttle
    oidc: Any = None  # the identity provider's Authlib client, when auth = "oidc"
    templates: Jinja2Templates = field(default_factory=lambda: _templates())

    @property
    def now(self) -> datetime:
        return self.ws.clock.now()

    def actor(self, request: Request) -> Actor:
        """The signed-in user with the roles config gives them now.

        A session older than ``[web] session_hours`` or of a user no longer in ``[users]``
        ends here, on the next request, whatever the cookie says.
        """
        name = request.session.get(SESSION_USER)
        since = request.session.get(SESSION_SINCE)
        roles = self.ws.settings.roles_of(name) if name else None
        if name and since and roles is not None:
            age = self.now - datetime.fromisoformat(since)
            if age.total_seconds() < self.ws.settings.web.session_hours * 3600:
                return Actor(name=name, roles=roles)
        request.session.clear()
        raise SignInNeeded

    @contextmanager
    def reading(self) -> Iterator[Any]:
        with self.ws.store.read() as session:
            yield session

    @contextmanager
    def writing(self, request: Request) -> Iterator[Any]:
        """One write transaction whose audit events all say ``via: web`` and the address."""
        with self.ws.store.transaction() as session:
            session.info[audit.CONTEXT] = {"via": "web", "address": client_address(request)}
            yield session

    def render(
        self, request: Request, template: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        """A page with the messages left for it by the previous action."""
        context.setdefault("user", request.session.get(SESSION_USER))
        context["messages"] = request.session.pop(_FLASH, [])
        context["csrftoken"] = request.scope["csrftoken"]()
        return self.templates.TemplateResponse(request, template, context, status_code=status)


def _templates() -> Jinja2Templates:
    """The page templates (autoescaped), with ``local``: an instant in a zone, for people."""
    templates = Jinja2Templates(directory=str(TEMPLATES))
    templates.env.filters["local"] = _local
    return templates


def _local(instant: datetime | str | None, tz: str) -> str:
    if isinstance(instant, str):
        instant = datetime.fromisoformat(instant)
    return wall_clock(instant, tz)


def client_address(request: Request) -> str:
    """The client's address (uvicorn takes it from X-Forwarded-For behind a trusted proxy)."""
    return request.client.host if request.client else "unknown"


def tell(request: Request, text: str, *, error: bool = False, link: str | None = None) -> None:
    """Leave a message for the next page this browser loads."""
    request.session.setdefault(_FLASH, []).append({"text": text, "error": error, "link": link})


def back_to(path: str) -> RedirectResponse:
    """After a form: See Other, so that reloading the page does not send the form again."""
    return RedirectResponse(path, status_code=303)


def site_of(request: Request) -> Site:
    return request.app.state.site


FormAction = Callable[[Request, dict[str, str]], Response]


def form_handler(action: FormAction) -> Callable[[Request], Any]:
    """An endpoint for a POSTed form: parse it, then run ``action`` in the thread pool.

    The database work of an action is synchronous, like the CLI's; the event loop stays free.
    (The CSRF middleware has already checked the form's token before this runs.)
    """
    from starlette.concurrency import run_in_threadpool

    async def endpoint(request: Request) -> Response:
        async with request.form() as form:
            fields = {key: str(value) for key, value in form.items()}
        return await run_in_threadpool(action, request, fields)

    return endpoint
