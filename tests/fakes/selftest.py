"""What the fakes' own tests share, the tests that prove each fake follows channels.md.

They drive a fake with raw httpx, as the documentation describes the API, from a frozen
start:

- the ``clock`` (at :data:`START`) and ``http`` fixtures, which a module imports by name
  (and, as its tests' arguments of those names redefine them, starts with
  ``# ruff: noqa: F811``, as the users of :mod:`tests.shared` do)::

      from tests.fakes.selftest import clock, http  # noqa: F401  (fixtures)

- for the Graph fakes: :func:`auth`, the header Signpost sends; :func:`graph_post`, a
  call with its parameters in the query or a form body; and :func:`graph_error`, the §8
  error body checked from the client's side;
- for the OAuth 2 fakes: :func:`authorization`, the query of a client's authorization
  request, its PKCE challenge computed by :func:`challenge` here rather than with the
  fakes' own :func:`tests.fakes.oauth2.s256`, so that a wrong one fails; and
  :func:`code_of`, the code out of the answer's redirect to :data:`REDIRECT`.

(Not a ``test_*`` module, so pytest collects nothing here; its assertions carry their own
messages, as pytest rewrites only test modules' asserts.)
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from scheduler.clock import FrozenClock
from tests.fakes.meta import GraphFake

START = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
#: where the authorization redirects: the loopback callback of ``channels connect``
REDIRECT = "http://127.0.0.1:8765/callback"
#: the PKCE code verifier of :func:`authorization` (RFC 7636: 43 to 128 unreserved characters)
VERIFIER = "v" * 43 + "-._~"
STATE = "s-42"
#: the keys of every error body, and the two of one that speaks to the user (channels.md §8)
GRAPH_ERROR_KEYS = {"message", "type", "code", "error_subcode", "fbtrace_id"}
USER_KEYS = {"error_user_title", "error_user_msg"}


@pytest.fixture
def clock() -> FrozenClock:
    """The fake's clock: START until the test advances it."""
    return FrozenClock(START)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """The test's own HTTP client, closed after it."""
    with httpx.Client(timeout=10) as client:
        yield client


def auth(fake: GraphFake, token: str | None = None) -> dict[str, str]:
    """``Authorization: Bearer``, with the fake's token unless the test sends another."""
    return {"Authorization": f"Bearer {token or fake.token}"}


def graph_post(
    fake: GraphFake, http: httpx.Client, path: str, *, form: bool = False, **params: Any
) -> httpx.Response:
    """``POST {api_url}/{path}``, ``params`` in a form body or the query (Graph reads both)."""
    url = f"{fake.api_url}/{path}"
    if form:
        return http.post(url, data=params, headers=auth(fake))
    return http.post(url, params=params, headers=auth(fake))


def graph_error(
    response: httpx.Response, status: int, code: int, *, for_user: bool = False
) -> dict[str, Any]:
    """The §8 error body, checked for shape (``for_user``: with :data:`USER_KEYS` too, else
    without them); returns its ``error`` object."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["code"] == code, error
    for key in ("message", "type", "fbtrace_id"):
        assert isinstance(error[key], str) and error[key], error
    assert set(error) - GRAPH_ERROR_KEYS == (USER_KEYS if for_user else set()), error
    return error


def challenge(verifier: str) -> str:
    """The PKCE S256 challenge of ``verifier`` (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorization(client_id: str, scope: str, **overrides: str) -> dict[str, str]:
    """The query of an authorization request for ``scope``, with :data:`VERIFIER`'s
    challenge, to come back to :data:`REDIRECT` with :data:`STATE`."""
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": STATE,
        "code_challenge": challenge(VERIFIER),
        "code_challenge_method": "S256",
        **overrides,
    }


def code_of(answer: httpx.Response) -> str:
    """The code that the authorization's ``302`` to :data:`REDIRECT` carries."""
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(REDIRECT + "?"), location
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == [STATE], location
    return query["code"][0]
