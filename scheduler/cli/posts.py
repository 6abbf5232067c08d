"""``signpost post add|edit|show|list|check``: writing posts and reading them back.

The review steps (preview, submit, approve, reject, cancel) are in ``scheduler.cli.review``.
"""

from pathlib import Path
from typing import Annotated, Any

import typer

from scheduler.cli.groups import post_app
from scheduler.cli.options import FormatOpt, PostId, reading, say, split_names, writing
from scheduler.output import Format


def _read_text(text: str | None, file: Path | None, *, required: bool) -> str | None:
    import sys

    from posts.errors import UserError

    if text is not None and file is not None:
        raise UserError("give either --text or --file, not both")
    if file is not None:
        if str(file) == "-":
            return sys.stdin.read()
        try:
            return file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UserError(f"--file {file}: no such file") from None
        except UnicodeDecodeError:
            raise UserError(f"--file {file}: expected UTF-8 text") from None
        except OSError as exc:
            raise UserError(f"--file {file}: cannot be read ({exc.strerror})") from None
    if text is None and required:
        raise UserError("give the post's words with --text TEXT or --file FILE")
    return text


def _variants(items: list[str] | None) -> dict[str, str]:
    from posts.errors import UserError

    result = {}
    for item in items or []:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise UserError(f"--variant '{item}': expected CHANNEL=TEXT, e.g. mastodon=\"...\"")
        result[name.strip()] = text
    return result


def _media(images: list[Path] | None, alts: list[str] | None) -> tuple[dict[str, str], ...]:
    import hashlib

    from posts.errors import UserError

    images, alts = images or [], alts or []
    if len(alts) > len(images):
        raise UserError(
            f"{len(alts)} --alt given for {len(images)} --image: give one --alt per --image"
        )
    media = []
    for i, path in enumerate(images):
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except FileNotFoundError:
            raise UserError(f"--image {path}: no such file") from None
        except OSError as exc:
            raise UserError(f"--image {path}: cannot be read ({exc.strerror})") from None
        media.append(
            {"path": str(path.resolve()), "sha256": digest, "alt": alts[i] if i < len(alts) else ""}
        )
    return tuple(media)


TextOpt = Annotated[str | None, typer.Option("--text", "-t", help="The post's words.")]
FileOpt = Annotated[
    Path | None, typer.Option("--file", help="Read the words from a UTF-8 file ('-' for stdin).")
]
LinkOpt = Annotated[
    str | None, typer.Option("--link", help="A link to carry (appended unless the text has it).")
]
ImageOpt = Annotated[
    list[Path] | None, typer.Option("--image", help="An image to attach; repeat for more.")
]
AltOpt = Annotated[
    list[str] | None, typer.Option("--alt", help="Alt text, one per --image, in order.")
]
IntendedOpt = Annotated[
    str | None,
    typer.Option(
        "--channels",
        help="Where the post is meant to go (comma-separated): what check, submit, approve"
        " and preview measure, and what 'post schedule' uses when it is given no --channels.",
    ),
]
VariantOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--variant", help="CHANNEL=TEXT: other words for one channel; CHANNEL= removes it."
    ),
]


@post_app.command("add")
def post_add(
    ctx: typer.Context,
    campaign: Annotated[str, typer.Option("--campaign", help="The campaign's slug.")],
    text: TextOpt = None,
    file: FileOpt = None,
    link: LinkOpt = None,
    image: ImageOpt = None,
    alt: AltOpt = None,
    variant: VariantOpt = None,
    channels: IntendedOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Write a new post; it starts as a draft.

    Example:

        signpost post add --campaign stop-it-now --channels newsroom,mastodon \\
            --text "Worried about your online behaviour? Confidential help: 0808 1000 900" \\
            --link https://www.stopitnow.org.uk/ \\
            --variant mastodon="Confidential help: 0808 1000 900"
    """
    from posts import workflow
    from posts.rules import Content

    content = Content(
        text=_read_text(text, file, required=True),
        variants={k: v for k, v in _variants(variant).items() if v},
        link=link,
        media=_media(image, alt),
    )
    with writing(ctx) as (ws, session):
        post = workflow.add_post(
            session,
            ws.actor(),
            ws.clock.now(),
            campaign=workflow.get_campaign(session, campaign),
            content=content,
            channels=ws.settings.channels,
            intended=split_names(channels or ""),
        )
        data = workflow.post_dict(session, post, ws.policy)
    say(f"created post {data['id']} (draft); next: signpost post preview {data['id']}")
    show_post(data, fmt)


@post_app.command("edit")
def post_edit(
    ctx: typer.Context,
    post_id: PostId,
    text: TextOpt = None,
    file: FileOpt = None,
    link: LinkOpt = None,
    no_link: Annotated[bool, typer.Option("--no-link", help="Remove the link.")] = False,
    image: ImageOpt = None,
    alt: AltOpt = None,
    no_images: Annotated[bool, typer.Option("--no-images", help="Remove every image.")] = False,
    variant: VariantOpt = None,
    channels: IntendedOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Change a post: a new revision that needs approving again.

    What you do not mention stays as it was. Editing an approved post sends it back to
    'submitted' with no approvals.

    Example:

        signpost post edit 3 --text "Confidential, non-judgemental help: 0808 1000 900"

        signpost post edit 3 --channels feed,newsroom
    """
    from posts import workflow
    from posts.errors import UserError
    from posts.revisions import ContentEdit

    if link and no_link:
        raise UserError("give either --link or --no-link, not both")
    if image and no_images:
        raise UserError("give either --image or --no-images, not both")
    new_text = _read_text(text, file, required=False)
    new_media = _media(image, alt)
    with writing(ctx) as (ws, session):
        post = workflow.get_post(session, post_id)
        change = ContentEdit(
            text=new_text,
            link=link,
            no_link=no_link,
            media=new_media,
            no_images=no_images,
            alt_only=bool(alt and not image),
            variants=_variants(variant),
        )
        content = change.applied_to(session, post)
        post = workflow.edit_post(
            session,
            ws.actor(),
            ws.clock.now(),
            post=post,
            content=content,
            channels=ws.settings.channels,
            intended=None if channels is None else split_names(channels),
        )
        data = workflow.post_dict(session, post, ws.policy)
    say(f"post {post_id} is now revision {data['revision']} ({data['state']})")
    show_post(data, fmt)


def show_post(data: dict[str, Any], fmt: Format) -> None:
    """A post as JSON, or for people: a variant per line, and the latest rejection (if any)
    right under the state, because its comment is what the author has to act on."""
    from datetime import datetime

    from scheduler.output import show

    if fmt == Format.json:
        show(data, fmt)
        return
    rejection = data.get("rejection")
    shown: dict[str, Any] = {}
    for key, value in data.items():
        if key != "rejection":
            shown[key] = value
        if key == "state" and rejection:
            at = datetime.fromisoformat(rejection["at"]).strftime("%Y-%m-%d %H:%M %Z")
            shown["rejection"] = (
                f"by {rejection['by']} at {at} (revision {rejection['revision']}):"
                f" {rejection['comment']}"
            )
    shown["approvals"] = f"{len(data['approvals'])} of {data.get('required', '?')}" + (
        f" ({', '.join(data['approvals'])})" if data["approvals"] else ""
    )
    shown["variants"] = [f"{name}: {text}" for name, text in sorted(data["variants"].items())]
    shown["media"] = [f"{m['path']} (alt: {m['alt'] or 'MISSING'})" for m in data["media"]]
    shown.pop("required", None)
    show(shown, fmt, title=f"Post {data['id']}")


@post_app.command("show")
def post_show(ctx: typer.Context, post_id: PostId, fmt: FormatOpt = Format.table) -> None:
    """Show a post's current revision, state and approvals, and why it was last rejected.

    Example:

        signpost post show 3 --format json
    """
    from posts import workflow

    with reading(ctx) as (ws, session):
        post = workflow.get_post(session, post_id)
        data = workflow.post_dict(session, post, ws.policy)
        data["rejection"] = workflow.latest_rejection(session, post)
    show_post(data, fmt)


@post_app.command("list")
def post_list(
    ctx: typer.Context,
    state: Annotated[str | None, typer.Option("--state", help="Only posts in this state.")] = None,
    campaign: Annotated[
        str | None, typer.Option("--campaign", help="Only this campaign's posts.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="Posts per page.")] = 50,
    offset: Annotated[int, typer.Option("--offset", min=0, help="Skip this many (next page).")] = 0,
    fmt: FormatOpt = Format.table,
) -> None:
    """List posts, newest first, one page at a time.

    Example:

        signpost post list --state submitted --campaign stop-it-now

        signpost post list --format json --limit 500 | jq '.[].id'
    """
    from posts import workflow
    from scheduler.output import render

    with reading(ctx) as (_ws, session):
        camp = workflow.get_campaign(session, campaign) if campaign else None
        rows, total = workflow.list_posts(
            session, state=state, campaign=camp, limit=limit, offset=offset
        )
    render(
        rows, ["id", "campaign", "state", "author", "revision", "text"], fmt, widths={"text": 60}
    )
    if fmt == Format.table:
        shown_to = offset + len(rows)
        more = f"; next page: --offset {shown_to}" if shown_to < total else ""
        say(f"{len(rows)} of {total} post(s){more}")


@post_app.command("check")
def post_check(
    ctx: typer.Context,
    post_id: PostId,
    fmt: FormatOpt = Format.table,
) -> None:
    """Check a post against its campaign's rules and its channels' limits.

    Its channels are those it is scheduled to or meant for (every configured channel when
    neither). Lists every problem at once; exits 1 if there is any.

    Example:

        signpost post check 3
    """
    from dataclasses import asdict

    from posts import workflow
    from scheduler.output import render

    with reading(ctx) as (ws, session):
        post = workflow.get_post(session, post_id)
        found = workflow.problems(session, post, ws.settings.channels)
        measured = workflow.targets(session, post, ws.settings.channels)
    if fmt == Format.json:
        render([asdict(p) for p in found], [], fmt)
    elif found:
        render(
            [asdict(p) for p in found],
            ["field", "channel", "message"],
            fmt,
            title=f"Post {post_id}: {len(found)} problem(s)",
        )
    if found:
        raise typer.Exit(1)
    say(f"post {post_id}: no problems for {len(measured)} channel(s): {', '.join(measured)}")
