"""The forms that change something. Each is one write transaction through the same
``posts/`` function the CLI calls, audited with ``via: web`` and the client's address, then
a redirect to the page the person came from with what happened (or why not) on it.

An approval or rejection carries the revision and content hash the page showed; if the post
changed since, ``posts`` refuses it and the page says so and shows the new version.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from posts import deliveries, workflow
from posts.errors import ChangedSince, SignpostError
from posts.policy import Actor
from scheduler.web.site import Site, back_to, form_handler, site_of, tell

#: DESIGN §11: the page's Pause everything is for admins (the CLI's ``pause`` also lets
#: authors and approvers stop a post they are worried about; on the page it is one button
#: that stops every channel, so it is kept to the people who run the service).
PAUSE_ROLES = ("admin",)
Step = Callable[[Any, Site, Actor, dict[str, str]], str]


def _acting(step: Step, page: Callable[[Request], str]) -> Callable[[Request], Any]:
    """A form endpoint running ``step`` in one transaction; refusals become a message."""

    def action(request: Request, form: dict[str, str]) -> Response:
        site = site_of(request)
        actor = site.actor(request)
        target = page(request)
        # The post or delivery is the one in the address, whatever the form says.
        fields = {**form, **{key: str(value) for key, value in request.path_params.items()}}
        try:
            with site.writing(request) as session:
                done = step(session, site, actor, fields)
        except ChangedSince as exc:
            tell(
                request,
                f"Nothing was done: post {exc.post_id} changed since you opened it. It is now"
                f" at revision {exc.current}; read it again below.",
                error=True,
                link=f"/posts/{exc.post_id}",
            )
        except SignpostError as exc:
            tell(request, f"Nothing was done: {exc}", error=True)
        else:
            tell(request, done)
        return back_to(target)

    return form_handler(action)


def _seen(form: dict[str, str]) -> workflow.SeenRevision:
    """The revision and hash the page showed (a form without them matches nothing)."""
    number = form.get("revision", "")
    return workflow.SeenRevision(
        int(number) if number.isdigit() else 0, form.get("content_hash") or "-"
    )


def approve(session: Any, site: Site, actor: Actor, form: dict[str, str]) -> str:
    post = workflow.get_post(session, int(form["post_id"]))
    workflow.approve_post(
        session,
        actor,
        site.now,
        post=post,
        policy=site.ws.policy,
        channels=site.ws.settings.channels,
        seen=_seen(form),
        comment=form.get("comment", "").strip() or None,
    )
    return f"You approved revision {form['revision']} of post {post.id}: it is now {post.state}."


def reject(session: Any, site: Site, actor: Actor, form: dict[str, str]) -> str:
    post = workflow.get_post(session, int(form["post_id"]))
    workflow.reject_post(
        session,
        actor,
        site.now,
        post=post,
        policy=site.ws.policy,
        seen=_seen(form),
        comment=form.get("comment", ""),
    )
    return f"You rejected revision {form['revision']} of post {post.id}; its author can fix it."


def retry(session: Any, site: Site, actor: Actor, form: dict[str, str]) -> str:
    delivery = deliveries.get_delivery(session, int(form["delivery_id"]))
    deliveries.retry(session, actor, site.now, delivery=delivery)
    return f"Delivery {delivery.id} to {delivery.channel} will be tried again now."


def resolve(session: Any, site: Site, actor: Actor, form: dict[str, str]) -> str:
    delivery = deliveries.get_delivery(session, int(form["delivery_id"]))
    went_out = form.get("outcome") == "sent"
    deliveries.resolve(
        session,
        actor,
        site.now,
        delivery=delivery,
        sent_url=form.get("url", "").strip() if went_out else None,
        not_sent=not went_out,
    )
    return f"Delivery {delivery.id} to {delivery.channel} recorded as {delivery.state}."


def pause(session: Any, site: Site, actor: Actor, form: dict[str, str]) -> str:
    actor.require(PAUSE_ROLES, "pause everything from the review page")
    deliveries.pause(
        session, actor, site.now, scope="all", target=None, reason=form.get("reason", "")
    )
    return "Publishing is paused everywhere: nothing goes out until someone resumes it."


def resume(session: Any, site: Site, actor: Actor, form: dict[str, str]) -> str:
    actor.require(PAUSE_ROLES, "resume publishing from the review page")
    deliveries.resume(session, actor, site.now, scope="all", target=None)
    return "Publishing resumed: due deliveries go out at the daemon's next turn."


def routes() -> list:
    from starlette.routing import Route

    def post_page(request: Request) -> str:
        return f"/posts/{request.path_params['post_id']}"

    def deliveries_page(_request: Request) -> str:
        return "/deliveries"

    return [
        Route("/posts/{post_id:int}/approve", _acting(approve, post_page), methods=["POST"]),
        Route("/posts/{post_id:int}/reject", _acting(reject, post_page), methods=["POST"]),
        Route(
            "/deliveries/{delivery_id:int}/retry",
            _acting(retry, deliveries_page),
            methods=["POST"],
        ),
        Route(
            "/deliveries/{delivery_id:int}/resolve",
            _acting(resolve, deliveries_page),
            methods=["POST"],
        ),
        Route("/pause", _acting(pause, deliveries_page), methods=["POST"]),
        Route("/resume", _acting(resume, deliveries_page), methods=["POST"]),
    ]
