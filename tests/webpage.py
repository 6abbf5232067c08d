"""The review page in tests: the app on the test's database and frozen clock, and a
browser-like client that keeps its cookies and sends each form with the token the page gave.

Shared by the route tests (Starlette's ASGI test client) and the OpenID tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from starlette.testclient import TestClient

from posts.store import Store
from scheduler.clock import FrozenClock
from scheduler.config import load
from scheduler.workspace import Workspace

SECRET = "test-session-secret-not-for-production"
_TOKEN = re.compile(r'name="csrftoken" value="([^"]+)"')


def workspace(config: Path, clock: FrozenClock) -> Workspace:
    """The web process's workspace: the same config and database as the CLI's."""
    settings = load(config)
    return Workspace(settings=settings, store=Store(settings.database_url), clock=clock)


@contextmanager
def visiting(
    config: Path, clock: FrozenClock, base_url: str = "http://signpost.test"
) -> Iterator[Visitor]:
    """The review page on ``config`` and one browser visiting it (``.ws``: the app's)."""
    from scheduler.web.app import create_app

    ws = workspace(config, clock)
    visitor = Visitor(create_app(ws, secret=SECRET), base_url=base_url)
    visitor.ws = ws
    try:
        yield visitor
    finally:
        visitor.close()
        ws.store.close()


class Visitor:
    """One browser: its cookies, the last page it loaded, and the form token on it."""

    def __init__(self, app: Any, base_url: str = "http://signpost.test") -> None:
        self.client = TestClient(app, base_url=base_url, follow_redirects=False)
        self.last: httpx.Response | None = None
        self.ws: Workspace | None = None

    def get(self, path: str, *, follow: bool = True) -> httpx.Response:
        self.last = self.client.get(path, follow_redirects=follow)
        return self.last

    def token(self) -> str:
        """The CSRF token of the last page loaded (the one a real form would carry)."""
        assert self.last is not None, "load a page first"
        found = _TOKEN.search(self.last.text)
        assert found, "the page has no form"
        return found.group(1)

    def submit(self, path: str, *, follow: bool = True, **fields: str) -> httpx.Response:
        """POST a form from the last page, as a browser does: its token included."""
        data = {"csrftoken": self.token(), **fields}
        self.last = self.client.post(path, data=data, follow_redirects=follow)
        return self.last

    def sign_in(self, name: str, password: str, *, next_page: str = "/") -> httpx.Response:
        self.get("/sign-in")
        return self.submit("/sign-in", username=name, password=password, next=next_page)

    def close(self) -> None:
        self.client.close()


def text_of(response: httpx.Response) -> str:
    """A page's words without tags or runs of white space, for asserting what people read."""
    import html

    words = re.sub(r"<[^>]+>", " ", response.text)
    return " ".join(html.unescape(words).split())
