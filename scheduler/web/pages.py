"""The pages people read: the review queue, a post as each channel will receive it, the
calendar, and the deliveries that need a person. Every query is a ``posts/`` function."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from posts import audit, views
from posts.deliveries import OPERATOR_ROLES, active_pauses
from posts.errors import UserError
from posts.policy import WRITER_ROLES
from posts.preview import preview
from posts.revisions import content_of, current_revision, get_post, post_authors
from scheduler.calendars import STATE_COLOURS, summary, weeks
from scheduler.web.actions import PAUSE_ROLES
from scheduler.web.site import site_of

WEEKS_SHOWN = 4
NEEDS_A_PERSON = ("uncertain", "failed", "missed")


def home(request: Request) -> Response:
    site_of(request).actor(request)
    return RedirectResponse("/queue", status_code=303)


def queue(request: Request) -> Response:
    """What awaits the signed-in reviewer, soonest due first."""
    site = site_of(request)
    actor = site.actor(request)
    with site.reading() as session:
        rows = views.awaiting(session, actor, site.ws.policy)
        pauses = paused(session)
    return site.render(request, "queue.html", rows=rows, pauses=pauses)


def post_page(request: Request) -> Response:
    """One preview card per channel, the diff, approvals, deliveries and the audit trail."""
    site = site_of(request)
    actor = site.actor(request)
    post_id = _number(request.path_params["post_id"])
    with site.reading() as session:
        try:
            post = get_post(session, post_id)
        except UserError:
            raise HTTPException(404) from None
        data = views.post_dict(session, post, site.ws.policy)
        images = {m["path"]: i for i, m in enumerate(data["media"])}
        shown = preview(session, post, site.ws.settings.channels, site.ws.policy)
        tz = views.campaign_zone(session, post)
        decisions = views.decisions(session, post)
        deliveries = views.list_delivery_rows(session, state=None, post_id=post_id, limit=None)
        trail = [audit.as_dict(e) for e in audit.events(session, subject=f"post:{post_id}")]
        authors = post_authors(session, post)
        roles = views.review_roles(session, post, site.ws.policy)
        pauses = paused(session)
    return site.render(
        request,
        "post.html",
        post=data,
        shown=shown,
        images=images,
        decisions=decisions,
        deliveries=deliveries,
        trail=trail,
        tz=tz,
        pauses=pauses,
        own=actor.name in authors,
        may_review=bool(set(actor.roles or ()) & set(roles)),
    )


def post_image(request: Request) -> Response:
    """An image of the post's current revision, by its position (no other file is served)."""
    site = site_of(request)
    site.actor(request)
    post_id = _number(request.path_params["post_id"])
    index = _number(request.path_params["index"])
    with site.reading() as session:
        try:
            media = content_of(current_revision(session, get_post(session, post_id))).media
        except UserError:
            raise HTTPException(404) from None
    if index >= len(media) or not Path(media[index]["path"]).is_file():
        raise HTTPException(404)
    return FileResponse(media[index]["path"])


def calendar(request: Request) -> Response:
    """Four weeks from the Monday of ``?from=`` (default: this week), in ``[defaults] tz``."""
    site = site_of(request)
    site.actor(request)
    tz = site.ws.settings.default_tz
    zone = ZoneInfo(tz)
    today = site.now.astimezone(zone).date()
    try:
        first = date.fromisoformat(request.query_params.get("from") or today.isoformat())
    except ValueError:
        first = today
    first -= timedelta(days=first.weekday())
    last = first + timedelta(weeks=WEEKS_SHOWN) - timedelta(days=1)
    start = datetime.combine(first, time(0), tzinfo=zone)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone)
    with site.reading() as session:
        rows = views.calendar(session, start=start, end=end)
        pauses = paused(session)
    return site.render(
        request,
        "calendar.html",
        weeks=weeks(rows, tz, first, last),
        tz=tz,
        first=first,
        last=last,
        count=len(rows),
        previous=(first - timedelta(weeks=WEEKS_SHOWN)).isoformat(),
        following=(first + timedelta(weeks=WEEKS_SHOWN)).isoformat(),
        states=list(STATE_COLOURS),
        summary=summary,
        pauses=pauses,
    )


def deliveries(request: Request) -> Response:
    """Uncertain, failed and missed deliveries, with what the signed-in user may do."""
    site = site_of(request)
    actor = site.actor(request)
    roles = set(actor.roles or ())
    with site.reading() as session:
        rows = [
            row
            for state in NEEDS_A_PERSON
            for row in views.list_delivery_rows(session, state=state, post_id=None, limit=200)
        ]
        pauses = paused(session)
    return site.render(
        request,
        "deliveries.html",
        rows=rows,
        pauses=pauses,
        may_retry=bool(roles & set(WRITER_ROLES)),
        may_resolve=bool(roles & set(OPERATOR_ROLES)),
        may_pause=bool(roles & set(PAUSE_ROLES)),
    )


def paused(session: Any) -> list[dict[str, str | None]]:
    """The pauses in force, as plain data for the banner every page shows."""
    return [
        {"scope": p.scope, "target": p.target, "who": p.who, "reason": p.reason}
        for p in active_pauses(session)
    ]


def _number(text: str) -> int:
    if not text.isdigit():
        raise HTTPException(404)
    return int(text)


def routes() -> list:
    from starlette.routing import Route

    return [
        Route("/", home),
        Route("/queue", queue),
        Route("/posts/{post_id}", post_page),
        Route("/posts/{post_id}/images/{index}", post_image),
        Route("/calendar", calendar),
        Route("/deliveries", deliveries),
    ]
