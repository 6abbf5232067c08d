"""Adapters that send a bearer token which may expire: X, LinkedIn, Threads (DESIGN §10).

The token comes from ``token_env`` (used as it is, for a token someone renews by hand) or
from ``token_file`` (:mod:`channels.tokens`: refreshed before it expires, or once when the
network answers 401, then the request is made again). A 401 is a refusal, so nothing was
posted and asking again is safe; a second 401 with a fresh token is "credentials rejected".
Tokens travel only in the ``Authorization`` header, never in a URL (httpx logs URLs).
"""

from __future__ import annotations

import os
from typing import Any

from channels.base import Adapter, PermanentError
from channels.tokens import TokenFile, Tokens


class TokenRefused(PermanentError):
    """The network answered 401 to this token (it expired early or was revoked)."""


class OAuthAdapter(Adapter):
    """An :class:`Adapter` whose requests carry ``Authorization: Bearer`` from its tokens."""

    #: the access token itself is exchanged for a new one (no refresh token): Threads
    renews_itself = False

    def _refresh(self, tokens: Tokens) -> Tokens:
        """New tokens from the network's token endpoint (each network says how)."""
        raise NotImplementedError

    @property
    def token_file(self) -> TokenFile | None:
        path = self.options.get("token_file")
        return TokenFile(self.name, path) if path else None

    def tokens(self) -> Tokens:
        """The tokens to send now (refreshed first if the file's are about to expire)."""
        store = self.token_file
        if store is None:
            assert self.secret is not None
            return Tokens(access_token=self.secret())
        return store.current(self.now(), self._refresh, renews_itself=self.renews_itself)

    def client_secret(self, *, required: bool) -> str | None:
        """The app's client secret from the variable ``client_secret_env`` names (None for
        a public client when not ``required``), never from the config itself."""
        name = self.options.get("client_secret_env")
        if not name and not required:
            return None  # a public client: PKCE alone
        secret = os.environ.get(name or "", "")
        if not secret:
            raise PermanentError(
                f"{self.name}: set client_secret_env to the variable holding the app's client"
                " secret" + (f" ({name} is not set)" if name else "")
            )
        return secret

    def token_note(self) -> str:
        """When the token file's access token lapses and whether it renews, for ``check``."""
        store = self.token_file
        if store is None:
            return ""
        tokens = store.read()
        note = ""
        if tokens.expires_at is not None:
            note = f"; access token valid until {tokens.expires_at:%Y-%m-%d %H:%M} UTC"
        if tokens.refresh_token or self.renews_itself:
            return note + "; refreshed automatically"
        return note + "; no refresh token: run signpost channels connect again before then"

    def authed(
        self, method: str, url: str, *, sends: bool, fields: tuple[str, ...] = (), **kwargs: Any
    ) -> Any:
        """:meth:`authed_response`'s JSON body, which must hold ``fields``."""
        response = self.authed_response(method, url, sends=sends, **kwargs)
        return self.expect(response, *fields, sends=sends)

    def authed_response(self, method: str, url: str, *, sends: bool, **kwargs: Any) -> Any:
        """:meth:`Adapter.request` with the bearer token; on a 401 (or the network's way of
        saying the token was refused), refresh once and ask again."""
        used = self.tokens()
        try:
            return self._with_token(used, method, url, sends=sends, **kwargs)
        except TokenRefused:
            store = self.token_file
            if store is None:
                raise PermanentError(f"credentials rejected by {self.name}") from None
            fresh = store.refreshed(
                used, self._refresh, self.now(), renews_itself=self.renews_itself
            )
        try:
            return self._with_token(fresh, method, url, sends=sends, **kwargs)
        except TokenRefused:
            raise PermanentError(
                f"credentials rejected by {self.name} even after a refresh;"
                f" run: signpost channels connect {self.name}"
            ) from None

    def _with_token(self, tokens: Tokens, method: str, url: str, *, sends: bool, **kw: Any) -> Any:
        """One request with ``tokens``' access token; a refused token is TokenRefused."""
        headers = {**kw.pop("headers", {}), "Authorization": f"Bearer {tokens.access_token}"}

        def classify(response: Any, body: Any) -> bool | None:
            if response.status_code == 401:
                raise TokenRefused(f"{self.name}: the access token was refused (401)")
            return self.classify(response, body)

        return self.request(method, url, sends=sends, classify=classify, headers=headers, **kw)
