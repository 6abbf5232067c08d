"""The ``[web]`` table: where the review page listens, its public address and how people
sign in (DESIGN §11).

Read with the rest of the config so a mistake in it fails every command the same way. No
secret is held here, only the names of the environment variables that hold them: the
client secret of the identity provider stays out of the config file and the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from posts.errors import ConfigError

AUTH_MODES = ("password", "oidc")
KEYS = frozenset(
    {
        "listen",
        "base_url",
        "auth",
        "issuer",
        "client_id",
        "client_secret_env",
        "username_claim",
        "session_hours",
    }
)
_OIDC_KEYS = ("issuer", "client_id", "client_secret_env")


class Reader(Protocol):
    """What ``scheduler.config`` offers to read a table (it names the file in each error)."""

    def table(self, raw: dict[str, Any], name: str, allowed: frozenset[str]) -> dict: ...
    def typed(self, value: Any, key: str, kind: type, expected: str) -> Any: ...
    def fail(self, key: str, expected: str, got: Any = None) -> ConfigError: ...
    def positive_int(self, value: Any, key: str) -> int: ...


@dataclass(frozen=True)
class WebSettings:
    """The review page's settings; the defaults serve one machine behind no proxy."""

    host: str = "127.0.0.1"
    port: int = 8080
    base_url: str | None = None
    auth: str = "password"
    issuer: str | None = None
    client_id: str | None = None
    client_secret_env: str | None = None
    username_claim: str = "preferred_username"
    session_hours: int = 8

    @property
    def secure_cookies(self) -> bool:
        """Cookies are marked Secure when people reach the page over https."""
        return (self.base_url or "").startswith("https://")


def read_web(reader: Reader, raw: dict[str, Any]) -> WebSettings:
    """Validate ``[web]``; every error names the key and what was expected."""
    web = reader.table(raw, "web", KEYS)
    listen = reader.typed(web.get("listen", "127.0.0.1:8080"), "[web] listen", str, "HOST:PORT")
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise reader.fail("[web] listen", 'HOST:PORT such as "127.0.0.1:8080"', listen)
    base_url = web.get("base_url")
    if base_url is not None:
        reader.typed(base_url, "[web] base_url", str, "an http(s) URL")
        if not _is_url(base_url):
            raise reader.fail(
                "[web] base_url", 'an http(s) URL such as "https://signpost.example.org"', base_url
            )
    auth = web.get("auth", "password")
    if auth not in AUTH_MODES:
        raise reader.fail("[web] auth", " or ".join(f'"{m}"' for m in AUTH_MODES), auth)
    texts = {}
    for key in (*_OIDC_KEYS, "username_claim"):
        if key in web:
            texts[key] = reader.typed(web[key], f"[web] {key}", str, "a string")
    if auth == "oidc":
        missing = [k for k in _OIDC_KEYS if not texts.get(k)]
        if missing:
            raise reader.fail(f"[web] {missing[0]}", 'a value when auth = "oidc"')
        if not _is_url(texts["issuer"]):
            raise reader.fail(
                "[web] issuer", "the identity provider's http(s) URL", texts["issuer"]
            )
    hours = reader.positive_int(web.get("session_hours", 8), "[web] session_hours")
    return WebSettings(
        host=host.strip("[]"),
        port=int(port),
        base_url=base_url,
        auth=auth,
        session_hours=hours,
        **texts,
    )


def _is_url(text: str) -> bool:
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.netloc)
