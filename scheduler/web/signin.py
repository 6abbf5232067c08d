"""Sign-in and sign-out: a password (argon2id, ``posts.accounts``) or the organisation's
OpenID Connect provider (Authlib: discovery, PKCE, state and nonce), then the session.

Either way the name must be in ``[users]``: the identity provider says who someone is,
Signpost's config says what they may do. Failed attempts are throttled per name and per
address and, like every sign-in and sign-out, recorded in the audit log with the address.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from posts import accounts, audit
from posts.errors import UserError
from scheduler.web.site import (
    SESSION_SINCE,
    SESSION_USER,
    Site,
    back_to,
    client_address,
    form_handler,
    site_of,
)

log = logging.getLogger("signpost.web")
CALLBACK = "/sign-in/callback"


def _transport_errors() -> tuple[type[Exception], ...]:
    """What Authlib raises when the provider cannot be reached or read: httpx's errors, or
    httpx2's where that is installed (Authlib 1.7+ prefers it), and unreadable JSON."""
    errors: list[type[Exception]] = [httpx.HTTPError, ValueError]
    try:
        import httpx2
    except ImportError:
        pass
    else:
        errors.append(httpx2.HTTPError)
    return tuple(errors)


PROVIDER_TROUBLE = _transport_errors()


def oidc_client(site: Site) -> Any:
    """The Authlib client for ``[web] issuer`` (discovery at its well-known address)."""
    from authlib.integrations.starlette_client import OAuth

    web = site.ws.settings.web
    secret = os.environ.get(web.client_secret_env or "")
    if not secret:
        raise UserError(
            f"[web] client_secret_env names ${web.client_secret_env}, which is not set:"
            " export the client secret your identity provider gave Signpost"
        )
    oauth = OAuth()
    return oauth.register(
        "idp",
        client_id=web.client_id,
        client_secret=secret,
        server_metadata_url=web.issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"},
    )


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site, never another site."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


async def sign_in_page(request: Request) -> Response:
    site = site_of(request)
    return site.render(
        request,
        "sign_in.html",
        mode=site.ws.settings.web.auth,
        next=safe_next(request.query_params.get("next")),
    )


def sign_in_password(request: Request, form: dict[str, str]) -> Response:
    """Check a name and password; throttled before the password is even looked at."""
    site = site_of(request)
    name = form.get("username", "").strip()
    address = client_address(request)
    target = safe_next(form.get("next"))

    def refuse(why: str, status: int) -> Response:
        return site.render(
            request, "sign_in.html", status, mode="password", next=target, error=why, name=name
        )

    if site.ws.settings.web.auth != "password":
        return refuse("This site signs people in through the organisation's account.", 400)
    wait = site.throttle.wait(name, address)
    if wait is not None:
        log.warning("sign-in throttled for %r from %s", name[:64], address)
        minutes = max(1, round(wait.total_seconds() / 60))
        return refuse(f"Too many failed sign-ins. Try again in {minutes} minutes.", 429)
    with site.writing(request) as session:
        known = site.ws.settings.roles_of(name) is not None
        right = accounts.check_password(session, name, form.get("password", "")) and known
        if not right:
            _refused(session, site, name, "wrong name or password")
    if not right:
        site.throttle.failed(name, address)
        return refuse("Wrong name or password.", 401)
    site.throttle.succeeded(name)
    return _signed_in(request, name, "password", target)


async def sign_in_oidc(request: Request) -> Response:
    """Send the browser to the identity provider (state, nonce and PKCE kept in the session)."""
    site = site_of(request)
    if site.oidc is None:
        return back_to("/sign-in")
    request.session["next"] = safe_next(request.query_params.get("next"))
    redirect_uri = _public_url(request, CALLBACK)
    try:
        return await site.oidc.authorize_redirect(request, redirect_uri)
    except PROVIDER_TROUBLE as exc:
        return _idp_trouble(request, site, exc)


async def oidc_callback(request: Request) -> Response:
    """The provider sends the browser back here: check state and nonce, then the name."""
    from authlib.integrations.base_client import OAuthError
    from starlette.concurrency import run_in_threadpool

    site = site_of(request)
    if site.oidc is None:
        return back_to("/sign-in")
    try:
        token = await site.oidc.authorize_access_token(request)
    except OAuthError as exc:
        log.warning("OpenID sign-in refused: %s", exc.error)
        await run_in_threadpool(_refused_now, request, site, "", f"provider: {exc.error}")
        return site.render(
            request,
            "sign_in.html",
            400,
            mode="oidc",
            next="/",
            error="Sign-in did not complete (it may have expired or been opened twice)."
            " Please start again.",
        )
    except PROVIDER_TROUBLE as exc:
        return _idp_trouble(request, site, exc)
    claim = site.ws.settings.web.username_claim
    name = str((token.get("userinfo") or {}).get(claim) or "")
    if site.ws.settings.roles_of(name) is None:
        await run_in_threadpool(_refused_now, request, site, name, "not in [users]")
        request.session.clear()
        return site.render(
            request,
            "sign_in.html",
            403,
            mode="oidc",
            next="/",
            error=f"You signed in as '{name or '(no ' + claim + ')'}', who is not a Signpost"
            " user here. Ask an administrator to add you to [users].",
        )
    target = safe_next(request.session.pop("next", None))
    return await run_in_threadpool(_signed_in, request, name, "oidc", target)


def sign_out(request: Request, _form: dict[str, str]) -> Response:
    site = site_of(request)
    name = request.session.get(SESSION_USER)
    if name:
        with site.writing(request) as session:
            audit.record(
                session, now=site.now, actor=name, action="web.sign_out", subject=f"user:{name}"
            )
    request.session.clear()
    return back_to("/sign-in")


def _signed_in(request: Request, name: str, method: str, target: str) -> Response:
    site = site_of(request)
    request.session.clear()  # nothing from before signing in carries over
    request.session[SESSION_USER] = name
    request.session[SESSION_SINCE] = site.now.isoformat()
    with site.writing(request) as session:
        audit.record(
            session,
            now=site.now,
            actor=name,
            action="web.sign_in",
            subject=f"user:{name}",
            details={"method": method},
        )
    return RedirectResponse(target, status_code=303)


def _refused(session: Any, site: Site, name: str, why: str) -> None:
    audit.record(
        session,
        now=site.now,
        actor=name[:64] or "(unknown)",
        action="web.sign_in_refused",
        subject=f"user:{name[:64]}",
        details={"reason": why},
    )


def _refused_now(request: Request, site: Site, name: str, why: str) -> None:
    with site.writing(request) as session:
        _refused(session, site, name, why)


def _idp_trouble(request: Request, site: Site, exc: Exception) -> Response:
    log.warning("identity provider unreachable or unreadable: %s", type(exc).__name__)
    return site.render(
        request,
        "sign_in.html",
        502,
        mode="oidc",
        next="/",
        error="The organisation's sign-in service did not answer properly. Try again shortly;"
        " if it keeps happening, tell whoever runs Signpost.",
    )


def _public_url(request: Request, path: str) -> str:
    """An address of this site as browsers reach it: ``[web] base_url`` when set."""
    base = site_of(request).ws.settings.web.base_url
    return (base.rstrip("/") if base else str(request.base_url).rstrip("/")) + path


def routes() -> list[Any]:
    from starlette.routing import Route

    return [
        Route("/sign-in", sign_in_page, methods=["GET"]),
        Route("/sign-in", form_handler(sign_in_password), methods=["POST"]),
        Route("/sign-in/oidc", sign_in_oidc, methods=["GET"]),
        Route(CALLBACK, oidc_callback, methods=["GET"]),
        Route("/sign-out", form_handler(sign_out), methods=["POST"]),
    ]
