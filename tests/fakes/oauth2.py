"""What the two OAuth 2 fakes share: X (channels.md §7, §15) and LinkedIn (§9, §15).

Both hosts issue their own user tokens to one client, the Signpost app, and a test starts
from ``fake.grant()``, the token set a finished ``channels connect`` would have stored.
Written once here:

- the token bookkeeping: one counter numbers every token and code (``<prefix>-access-N``,
  ``<prefix>-refresh-N``, ``<prefix>-code-N``); a new access token replaces the old one,
  which answers 401 from then on, as does one past its lifetime
  (``expire_access_token()``) and both tokens after ``reject_token()``;
- the authorization request (the fakes' choice: auto-consent, a ``302`` to
  ``redirect_uri`` with ``code`` and ``state``): every parameter is required, with
  ``response_type=code`` and PKCE ``S256``; its errors are ``400`` JSON, not a redirect;
- the token endpoint: a form-encoded body, then the client, then the grant;
- redeeming a code: once, within the host's lifetime for codes, for its redirect URI and
  the verifier of its challenge (:func:`s256`);
- a token in the URL: a parameter named for one, or any token the fake issued as a value.

Each fake keeps its own answers: the error bodies, the lifetimes, how the client
authenticates, and whether a refresh rotates the refresh token.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import timedelta
from typing import Any, ClassVar
from urllib.parse import urlencode

from scheduler.clock import Clock
from tests.fakes.server import FakeServer, Reply, Request, json_reply

AUTHORIZE_PARAMS = "response_type client_id redirect_uri scope state code_challenge".split()


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of ``verifier``: base64url(sha256), without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def oauth_error(status: int, error: str, description: str) -> Reply:
    """RFC 6749's error body: ``{"error", "error_description"}``."""
    return json_reply(status, {"error": error, "error_description": description})


class OAuth2Fake(FakeServer):
    """A host that issues OAuth 2 user tokens; subclasses add the routes and the API.

    The class attributes say how a host differs; the methods that raise
    ``NotImplementedError`` are its own answers.
    """

    #: what the host's tokens and codes start with
    token_prefix: ClassVar[str]
    #: the scope of ``grant()`` unless a test names another
    default_scope: ClassVar[str]
    access_lifetime: ClassVar[timedelta]
    #: how long a code may wait for its exchange (None: as long as the fake runs)
    code_lifetime: ClassVar[timedelta | None] = None
    #: query parameter names that carry a token, in lower case
    query_token_names: ClassVar[frozenset[str]]
    #: an authorization request for another client: the status and the error code
    unknown_client: ClassVar[tuple[int, str]]
    #: the error code of a grant type the token endpoint does not know
    unsupported_grant: ClassVar[str]

    def __init__(self, *, clock: Clock | None, client_id: str, client_secret: str) -> None:
        super().__init__(clock=clock)
        self.client_id = client_id
        self.client_secret = client_secret
        self.refreshes = 0  # successful refresh_token grants
        self.access_token: str | None = None
        self.refresh_token: str | None = None
        self.scope = self.default_scope
        self._access_expires = self.clock.now()
        self._issued: set[str] = set()  # every token ever handed out
        self._codes: dict[str, dict[str, Any]] = {}  # authorization code → its request
        self._counter = 0

    def _issue(self) -> dict[str, Any]:
        """New tokens, and the token endpoint's answer that hands them out."""
        raise NotImplementedError

    def _invalid_token(self) -> Reply:
        """The host's 401 for a missing, wrong, replaced, expired or revoked token."""
        raise NotImplementedError

    def _client(self, request: Request) -> Reply | None:
        """None if the token request authenticates the client, else the host's answer."""
        raise NotImplementedError

    def _refresh(self, form: dict[str, str]) -> Reply:
        """The ``refresh_token`` grant."""
        raise NotImplementedError

    def _exchange_code(self, form: dict[str, str]) -> Reply:
        """The ``authorization_code`` grant (see :meth:`_redeem`)."""
        raise NotImplementedError

    # --- helpers for tests -----------------------------------------------------------

    def grant(self, scope: str | None = None) -> dict[str, str]:
        """A fresh token set for ``scope`` (default: all Signpost asks for), as a finished
        ``channels connect`` would have stored it: ``{"access_token", "refresh_token",
        "expires_at"}`` (ISO 8601 UTC, now + the access token's lifetime)."""
        self.scope = self.default_scope if scope is None else scope
        issued = self._issue()
        return {
            "access_token": issued["access_token"],
            "refresh_token": issued.get("refresh_token", ""),
            "expires_at": self._access_expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def expire_access_token(self) -> None:
        """The current access token answers 401 from now on, as once its lifetime is over;
        the refresh token still works."""
        self._access_expires = self.clock.now()

    def reject_token(self) -> None:
        """The user revoked the app: the access and the refresh token stop working."""
        self.access_token = self.refresh_token = None

    # --- tokens ----------------------------------------------------------------------

    def _new_access_token(self) -> dict[str, Any]:
        """A new access token (the old one stops working), as the token endpoint gives it."""
        self._counter += 1
        self.access_token = f"{self.token_prefix}-access-{self._counter}"
        self._access_expires = self.clock.now() + self.access_lifetime
        self._issued.add(self.access_token)
        lifetime = int(self.access_lifetime.total_seconds())
        return {"access_token": self.access_token, "expires_in": lifetime}

    def _new_refresh_token(self) -> str:
        """A new refresh token, numbered like the access token issued with it."""
        self.refresh_token = f"{self.token_prefix}-refresh-{self._counter}"
        self._issued.add(self.refresh_token)
        return self.refresh_token

    def _unauthorized(self, request: Request) -> Reply | None:
        """The host's 401 unless ``Authorization: Bearer`` carries the current token in time."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if (
            scheme.lower() != "bearer"
            or self.access_token is None
            or token.strip() != self.access_token
            or self.clock.now() >= self._access_expires
        ):
            return self._invalid_token()
        return None

    def _token_in_url(self, request: Request) -> bool:
        """Whether the query carries a token: by its parameter's name, or an issued value."""
        return any(
            key.lower() in self.query_token_names or value in self._issued
            for key, value in request.query.items()
        )

    # --- OAuth 2 ---------------------------------------------------------------------

    def _authorize(self, request: Request, match: re.Match[str]) -> Reply:
        """Auto-consent: ``302`` to ``redirect_uri?code=..&state=..``."""
        params = request.query
        missing = [name for name in AUTHORIZE_PARAMS if not params.get(name)]
        if missing:
            return oauth_error(400, "invalid_request", f"Missing parameter: {missing[0]}")
        if params["response_type"] != "code" or params.get("code_challenge_method") != "S256":
            return oauth_error(400, "invalid_request", "response_type=code and S256 required")
        if params["client_id"] != self.client_id:
            return oauth_error(*self.unknown_client, "Unknown client_id")
        self._counter += 1
        code = f"{self.token_prefix}-code-{self._counter}"
        self._codes[code] = {**params, "at": self.clock.now()}
        separator = "&" if "?" in params["redirect_uri"] else "?"
        query = urlencode({"code": code, "state": params["state"]})
        return Reply(302, b"", {"Location": params["redirect_uri"] + separator + query})

    def _token(self, request: Request, match: re.Match[str]) -> Reply:
        if request.content_type != "application/x-www-form-urlencoded":
            return oauth_error(400, "invalid_request", "The body must be form-encoded.")
        if (denied := self._client(request)) is not None:
            return denied
        form = request.form
        if form.get("grant_type") == "refresh_token":
            return self._refresh(form)
        if form.get("grant_type") == "authorization_code":
            return self._exchange_code(form)
        return oauth_error(400, self.unsupported_grant, "Missing or unsupported grant_type.")

    def _redeem(self, form: dict[str, str]) -> bool:
        """Whether ``form`` redeems a code: once, in time, for its redirect URI and the
        verifier of its challenge. The tokens issued next have the code's scope."""
        asked = self._codes.pop(form.get("code", ""), None)
        if (
            asked is None
            or (
                self.code_lifetime is not None
                and self.clock.now() >= asked["at"] + self.code_lifetime
            )
            or form.get("redirect_uri") != asked["redirect_uri"]
            or s256(form.get("code_verifier", "")) != asked["code_challenge"]
        ):
            return False
        self.scope = asked["scope"]
        return True
