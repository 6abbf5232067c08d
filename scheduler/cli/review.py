"""``signpost post preview|submit|approve|reject|cancel``: a post's way to approval.

An approval or rejection names the revision the reviewer saw (``--revision``, or the one a
terminal showed and the person confirmed); ``posts.workflow`` refuses it if the post changed.
"""

from typing import Annotated, Any

import typer

from scheduler.cli.groups import post_app
from scheduler.cli.options import FormatOpt, PostId, reading, say, writing
from scheduler.cli.posts import show_post
from scheduler.output import Format


@post_app.command("submit")
def post_submit(ctx: typer.Context, post_id: PostId, fmt: FormatOpt = Format.table) -> None:
    """Send a draft for approval (refused, exit 3, if it breaks a content rule).

    Example:

        signpost post submit 3
    """
    from posts import workflow

    _step(
        ctx,
        post_id,
        fmt,
        "submitted",
        lambda s, ws, p: workflow.submit_post(
            s,
            ws.actor(),
            ws.clock.now(),
            post=p,
            channels=ws.settings.channels,
            notify=ws.settings.notify,
        ),
    )


RevisionOpt = Annotated[
    int | None,
    typer.Option(
        "--revision",
        "-r",
        help="The revision you checked (see 'signpost post preview ID'); refused if the post"
        " changed since. Without it, a terminal shows the preview and asks.",
    ),
]


@post_app.command("preview")
def post_preview(
    ctx: typer.Context,
    post_id: PostId,
    channel: Annotated[
        str | None, typer.Option("--channel", help="Only this channel (scheduled there or not).")
    ] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Show exactly what each channel will receive: words, tagged link, images, count.

    One panel per channel the post is scheduled to or meant for (every configured channel
    when it is neither), with its count against that channel's limit, every problem, and
    the changes since the last approved revision. The daemon sends what this shows.

    Example:

        signpost post preview 3

        signpost post preview 3 --channel mastodon --format json | jq -r '.channels[0].text'
    """
    from posts import workflow
    from posts.preview import preview
    from scheduler.previews import render_preview

    with reading(ctx) as (ws, session):
        post = workflow.get_post(session, post_id)
        shown = preview(session, post, ws.settings.channels, ws.policy, only=channel)
    render_preview(shown, fmt)
    if fmt == Format.table:
        say(f"to approve exactly this: signpost post approve {post_id} --revision {shown.revision}")


def _seen(ctx: typer.Context, post_id: int, revision: int | None, doing: str) -> Any:
    """The revision the reviewer saw: ``--revision``, or the one shown and confirmed here.

    Without ``--revision`` and without a terminal to ask on, nothing is decided: a script
    must say which revision it means.
    """
    import sys

    from posts import workflow
    from posts.errors import PolicyRefused, UserError
    from posts.preview import preview
    from scheduler.previews import render_preview

    if revision is not None:
        return workflow.SeenRevision(revision)
    with reading(ctx) as (ws, session):
        post = workflow.get_post(session, post_id)
        if not sys.stdin.isatty():
            raise PolicyRefused(
                f"post {post_id} is at revision {post.revision}: check it with 'signpost post"
                f" preview {post_id}', then {doing} it with --revision {post.revision}"
            )
        shown = preview(session, post, ws.settings.channels, ws.policy)
    render_preview(shown, Format.table, stderr=True)
    verb = doing.capitalize()
    if not typer.confirm(f"{verb} revision {shown.revision} of post {post_id}?", default=False):
        raise UserError(f"post {post_id}: nothing done (you answered no)")
    return workflow.SeenRevision(shown.revision, shown.content_hash)


@post_app.command("approve")
def post_approve(
    ctx: typer.Context,
    post_id: PostId,
    revision: RevisionOpt = None,
    comment: Annotated[str | None, typer.Option("--comment", help="A note for the record.")] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Sign off exactly the revision you checked (four-eyes: never your own post).

    Refused (exit 3) if the post changed since that revision. On a terminal, without
    --revision, the preview is shown and you are asked.

    Example:

        signpost post preview 3

        signpost post approve 3 --revision 2 --comment "Checked with the charity"
    """
    from posts import workflow

    seen = _seen(ctx, post_id, revision, "approve")
    _step(
        ctx,
        post_id,
        fmt,
        "approved",
        lambda s, ws, p: workflow.approve_post(
            s,
            ws.actor(),
            ws.clock.now(),
            post=p,
            policy=ws.policy,
            channels=ws.settings.channels,
            seen=seen,
            comment=comment,
        ),
    )


@post_app.command("reject")
def post_reject(
    ctx: typer.Context,
    post_id: PostId,
    comment: Annotated[str, typer.Option("--comment", help="Why, so the author can fix it.")],
    revision: RevisionOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Send the revision you checked back to its author with a reason.

    Example:

        signpost post reject 3 --revision 2 --comment "Say 'confidential' in the first line"
    """
    from posts import workflow

    seen = _seen(ctx, post_id, revision, "reject")
    _step(
        ctx,
        post_id,
        fmt,
        "rejected",
        lambda s, ws, p: workflow.reject_post(
            s,
            ws.actor(),
            ws.clock.now(),
            post=p,
            policy=ws.policy,
            seen=seen,
            comment=comment,
        ),
    )


@post_app.command("cancel")
def post_cancel(ctx: typer.Context, post_id: PostId, fmt: FormatOpt = Format.table) -> None:
    """Withdraw a post that has not gone out; it can never be published afterwards.

    Example:

        signpost post cancel 3
    """
    from posts import workflow

    _step(
        ctx,
        post_id,
        fmt,
        "cancelled",
        lambda s, ws, p: workflow.cancel_post(s, ws.actor(), ws.clock.now(), post=p),
    )


def _step(ctx: typer.Context, post_id: int, fmt: Format, done: str, step: Any) -> None:
    """Run one workflow step on a post in one transaction and say what it did.

    A person gets one line (the post itself was shown by 'post show' or 'post preview');
    a pipe gets the post as JSON.
    """
    from posts import workflow

    with writing(ctx) as (ws, session):
        post = step(session, ws, workflow.get_post(session, post_id))
        data = workflow.post_dict(session, post, ws.policy)
    say(
        f"post {post_id} revision {data['revision']} {done} by {ws.actor().name}: now"
        f" {data['state']} ({len(data['approvals'])} of {data['required']} approvals)"
    )
    if fmt == Format.json:
        show_post(data, fmt)
