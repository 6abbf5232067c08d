"""The ``signpost`` command line (DESIGN §6).

Commands are thin: parse, call ``posts.workflow`` inside one transaction, render. Heavy
modules (SQLModel, Alembic, Rich tables) are imported inside the commands so that
``signpost --help`` stays quick. One handler, :class:`SignpostGroup`, turns every
``SignpostError`` into one line on stderr and its exit code (1 user error, 3 refused by
policy); usage errors stay 2, as Click makes them.
"""

from __future__ import annotations

from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from scheduler.helpformat import use_pasteable_help
from scheduler.output import Format

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlmodel import Session

    from scheduler.workspace import Workspace


class SignpostGroup(TyperGroup):
    """The root group: maps user errors to one stderr line and an exit code.

    It also makes every command's ``--help`` print its examples verbatim, so that they can be
    pasted at any terminal width (issue 9; see :mod:`scheduler.helpformat`).
    """

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        use_pasteable_help(self)  # Typer has built the whole tree by now

    def invoke(self, ctx: Any) -> Any:
        from posts.errors import SignpostError
        from scheduler.output import error

        try:
            return super().invoke(ctx)
        except SignpostError as exc:
            error(str(exc))
            raise typer.Exit(exc.exit_code) from None


HELP = """Schedule, approve and publish awareness-campaign posts, with an audit log.

Nothing goes out unapproved, nothing goes out twice, nothing is lost silently.

Example:

    signpost init

    signpost campaign add stop-it-now --name "Stop It Now" --must-include "0808 1000 900"

    signpost post add --campaign stop-it-now --text "Confidential help: 0808 1000 900"
"""

app = typer.Typer(
    cls=SignpostGroup, help=HELP, no_args_is_help=True, add_completion=False, rich_markup_mode=None
)
campaign_app = typer.Typer(help="Create and inspect campaigns.", no_args_is_help=True)
post_app = typer.Typer(help="Write, check, submit, approve and cancel posts.", no_args_is_help=True)
audit_app = typer.Typer(
    help="Read, verify and export the hash-chained audit log.", no_args_is_help=True
)
app.add_typer(campaign_app, name="campaign")
app.add_typer(post_app, name="post")
app.add_typer(audit_app, name="audit")
deliveries_app = typer.Typer(
    help="See every delivery, retry one on purpose, or settle an uncertain one.",
    no_args_is_help=True,
)
channels_app = typer.Typer(
    help="List configured channels and check they work.", no_args_is_help=True
)
app.add_typer(deliveries_app, name="deliveries")
app.add_typer(channels_app, name="channels")

FormatOpt = Annotated[
    Format, typer.Option("--format", "-f", help="table for people, json for pipes.")
]
PostId = Annotated[int, typer.Argument(help="The post's id (see 'signpost post list').")]


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="Config file [default: $SIGNPOST_CONFIG or ./config.toml]."
        ),
    ] = None,
) -> None:
    """Remember the config path; nothing is loaded until a command needs it."""
    preset = ctx.obj if isinstance(ctx.obj, dict) else {}
    ctx.obj = {"config": config, "clock": preset.get("clock"), "workspace": None}


def workspace(ctx: typer.Context, *, initialised: bool = True) -> Workspace:
    """The command's workspace; refuses a database that 'signpost init' has not prepared."""
    from scheduler.workspace import Workspace

    root = ctx.find_root()
    obj = root.obj
    if obj["workspace"] is None:
        obj["workspace"] = Workspace.open(obj["config"], obj["clock"])
        root.call_on_close(obj["workspace"].store.close)
        if initialised:
            obj["workspace"].store.require_current()
    return obj["workspace"]


@contextmanager
def writing(ctx: typer.Context) -> Iterator[tuple[Workspace, Session]]:
    """One write transaction for the whole command."""
    ws = workspace(ctx)
    with ws.store.transaction() as session:
        yield ws, session


@contextmanager
def reading(ctx: typer.Context) -> Iterator[tuple[Workspace, Session]]:
    """A read-only session for the whole command."""
    ws = workspace(ctx)
    with ws.store.read() as session:
        yield ws, session


# --- init, status ---------------------------------------------------------------------------


@app.command()
def init(ctx: typer.Context) -> None:
    """Create the database, or upgrade it to this version's schema. Safe to run again.

    Example:

        signpost --config /etc/signpost/config.toml init
    """
    from posts import audit
    from posts.store import SCHEMA_REVISION, describe

    ws = workspace(ctx, initialised=False)
    actor = ws.actor().name  # refuse a bad SIGNPOST_ACTOR before touching the database

    def record(session: Session, before: str | None) -> None:
        audit.record(
            session,
            now=ws.clock.now(),
            actor=actor,
            action="database.init",
            subject="database",
            details={"from": before, "to": SCHEMA_REVISION},
        )

    before, after = ws.store.migrate(record)
    where = describe(ws.store.url)
    if before == after:
        _say(f"database {where} is up to date (schema {after})")
    else:
        _say(f"database {where} {'created' if before is None else 'upgraded'} (schema {after})")


@app.command()
def status(ctx: typer.Context, fmt: FormatOpt = Format.table) -> None:
    """Counts of posts by state, the audit log's length and head, and where the data lives.

    Example:

        signpost status --format json | jq .posts
    """
    from datetime import timedelta

    from sqlmodel import func, select

    from posts import deliveries
    from posts.models import AuditEvent, Campaign, Heartbeat, Post
    from posts.store import describe
    from scheduler.output import emit_json, render

    with reading(ctx) as (ws, session):
        now = ws.clock.now()
        by_state = dict(session.exec(select(Post.state, func.count()).group_by(Post.state)).all())
        campaigns = session.exec(select(func.count()).select_from(Campaign)).one()
        head = session.exec(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).first()
        counts = deliveries.counts(session, now, timedelta(hours=24))
        beats = session.exec(select(Heartbeat).order_by(Heartbeat.last_beat.desc()).limit(10)).all()
        pauses = deliveries.active_pauses(session)
        data = {
            "database": describe(ws.store.url),
            "config": str(ws.settings.path),
            "campaigns": campaigns,
            "posts": by_state,
            "deliveries": {k: v for k, v in counts.items() if k != "due_soon"},
            "due_within_24h": counts["due_soon"],
            "paused": [
                {
                    "scope": p.scope,
                    "target": p.target,
                    "by": p.who,
                    "reason": p.reason,
                    "since": p.since.isoformat(),
                }
                for p in pauses
            ],
            "daemons": [
                {
                    "id": b.daemon_id,
                    "host": b.host,
                    "pid": b.pid,
                    "heartbeat_age_seconds": round((now - b.last_beat).total_seconds(), 1),
                }
                for b in beats
            ],
            "audit_events": head.seq if head else 0,
            "audit_head": head.hash if head else None,
            "channels": sorted(ws.settings.channels),
        }
    if fmt == Format.json:
        emit_json(data)
        return
    nested = ("posts", "deliveries", "paused", "daemons")
    rows = [{"what": k, "value": v} for k, v in data.items() if k not in nested]
    rows += [{"what": f"posts {state}", "value": n} for state, n in sorted(by_state.items())]
    rows += [
        {"what": f"deliveries {state}", "value": n}
        for state, n in sorted(data["deliveries"].items())
    ]
    rows += [
        {
            "what": f"paused {p['scope']} {p['target'] or ''}".rstrip(),
            "value": f"by {p['by']}: {p['reason']}",
        }
        for p in data["paused"]
    ]
    rows += [
        {
            "what": f"daemon {d['host']}:{d['pid']}",
            "value": f"heartbeat {d['heartbeat_age_seconds']}s ago",
        }
        for d in data["daemons"]
    ]
    if not data["daemons"]:
        rows.append({"what": "daemon", "value": "no heartbeat: is 'signpost daemon' running?"})
    render(rows, ["what", "value"], fmt, title="Signpost status")


# --- campaigns ------------------------------------------------------------------------------

CAMPAIGN_COLUMNS = ["slug", "name", "tz", "starts", "ends", "must_include", "paused"]


@campaign_app.command("add")
def campaign_add(
    ctx: typer.Context,
    slug: Annotated[
        str, typer.Argument(help="Short name used on the command line, e.g. stop-it-now.")
    ],
    name: Annotated[str, typer.Option("--name", help="The campaign's full name.")],
    tz: Annotated[
        str | None, typer.Option("--tz", help="IANA time zone [default: config's [defaults] tz].")
    ] = None,
    start: Annotated[str | None, typer.Option("--start", help="First day, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last day, YYYY-MM-DD.")] = None,
    must_include: Annotated[
        list[str] | None,
        typer.Option("--must-include", help="Text every post must carry; 'a|b' accepts either."),
    ] = None,
    forbid: Annotated[
        list[str] | None,
        typer.Option("--forbid", help="A term no post may use (whole word, any case)."),
    ] = None,
    link_domain: Annotated[
        list[str] | None,
        typer.Option("--link-domain", help="A domain links may point to (subdomains too)."),
    ] = None,
    approvals: Annotated[
        int | None,
        typer.Option(
            "--approvals", help="Approvals needed [default: config's [approval] required]."
        ),
    ] = None,
    approver_role: Annotated[
        list[str] | None,
        typer.Option(
            "--approver-role", help="Role allowed to approve [default: config's [approval] roles]."
        ),
    ] = None,
    utm_campaign: Annotated[
        str | None, typer.Option("--utm-campaign", help="utm_campaign tag [default: the slug].")
    ] = None,
    utm_medium: Annotated[
        str | None, typer.Option("--utm-medium", help="utm_medium tag [default: social].")
    ] = None,
    no_utm: Annotated[
        bool, typer.Option("--no-utm", help="Never add UTM tags to this campaign's links.")
    ] = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Create a campaign with its content rules.

    Outgoing links are tagged per delivery with utm_source (the channel type), utm_medium
    and utm_campaign, so visits can be tied to posts; the approved text stays untagged.

    Example:

        signpost campaign add stop-it-now --name "Stop It Now" --tz Europe/London \\
            --must-include "0808 1000 900|stopitnow.org.uk" --forbid "kiddie" \\
            --link-domain stopitnow.org.uk
    """
    from posts import workflow
    from scheduler.output import show

    with writing(ctx) as (ws, session):
        campaign = workflow.add_campaign(
            session,
            ws.actor(),
            ws.clock.now(),
            slug=slug,
            name=name,
            tz=tz or ws.settings.default_tz,
            starts=_date(start, "--start"),
            ends=_date(end, "--end"),
            must_include=must_include or (),
            forbidden=forbid or (),
            link_domains=link_domain or (),
            approvals_required=approvals,
            approver_roles=approver_role or (),
            utm=not no_utm,
            utm_medium=utm_medium,
            utm_campaign=utm_campaign,
        )
        data = workflow.campaign_dict(campaign)
    _say(f"created campaign {slug}")
    show(data, fmt)


def _date(text: str | None, option: str) -> Any:
    from datetime import date

    from posts.errors import UserError

    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UserError(f"{option} '{text}': expected a date as YYYY-MM-DD") from None


@campaign_app.command("edit")
def campaign_edit(
    ctx: typer.Context,
    slug: Annotated[str, typer.Argument(help="The campaign's slug (it cannot change).")],
    name: Annotated[str | None, typer.Option("--name", help="A new full name.")] = None,
    tz: Annotated[
        str | None,
        typer.Option("--tz", help="A new IANA time zone; scheduled times keep their instant."),
    ] = None,
    start: Annotated[str | None, typer.Option("--start", help="New first day, YYYY-MM-DD.")] = None,
    no_start: Annotated[bool, typer.Option("--no-start", help="No first day.")] = False,
    end: Annotated[str | None, typer.Option("--end", help="New last day, YYYY-MM-DD.")] = None,
    no_end: Annotated[bool, typer.Option("--no-end", help="No last day.")] = False,
    must_include: Annotated[
        list[str] | None,
        typer.Option(
            "--must-include", help="Replaces the texts every post must carry; 'a|b' either."
        ),
    ] = None,
    no_must_include: Annotated[
        bool, typer.Option("--no-must-include", help="Posts need carry no text.")
    ] = False,
    forbid: Annotated[
        list[str] | None, typer.Option("--forbid", help="Replaces the forbidden terms.")
    ] = None,
    no_forbid: Annotated[bool, typer.Option("--no-forbid", help="No term is forbidden.")] = False,
    link_domain: Annotated[
        list[str] | None,
        typer.Option("--link-domain", help="Replaces the domains links may point to."),
    ] = None,
    no_link_domains: Annotated[
        bool, typer.Option("--no-link-domains", help="Links may point anywhere.")
    ] = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Change a campaign's name, time zone, days or content rules (audited).

    A repeatable option replaces that whole list; what you do not mention stays. Posts
    keep their approvals: each meets the new rules when it is next approved or scheduled,
    and posts or deliveries the edit leaves breaking them are named on stderr.

    Example:

        signpost campaign edit stop-it-now --end 2027-01-31 \\
            --must-include "0808 1000 900|stopitnow.org.uk"
    """
    from posts import workflow
    from posts.errors import UserError
    from scheduler.output import show

    changes: dict[str, Any] = {}
    for field, value, clear, flag, no_flag in (
        ("starts", _date(start, "--start"), no_start, "--start", "--no-start"),
        ("ends", _date(end, "--end"), no_end, "--end", "--no-end"),
        ("must_include", must_include, no_must_include, "--must-include", "--no-must-include"),
        ("forbidden", forbid, no_forbid, "--forbid", "--no-forbid"),
        ("link_domains", link_domain, no_link_domains, "--link-domain", "--no-link-domains"),
    ):
        if value and clear:
            raise UserError(f"give either {flag} or {no_flag}, not both")
        if clear:
            changes[field] = None if field in ("starts", "ends") else []  # no day, no rule
        elif value:
            changes[field] = value
    if name is not None:
        changes["name"] = name
    if tz is not None:
        changes["tz"] = tz
    with writing(ctx) as (ws, session):
        campaign = workflow.get_campaign(session, slug)
        changed = workflow.edit_campaign(
            session, ws.actor(), ws.clock.now(), campaign=campaign, changes=changes
        )
        data = workflow.campaign_dict(campaign)
        warnings = workflow.campaign_warnings(session, campaign, ws.settings.channels)
    _say(f"campaign {slug}: changed {', '.join(changed)}")
    for warning in warnings:
        _say(f"note: {warning}")
    show(data, fmt)


@campaign_app.command("list")
def campaign_list(ctx: typer.Context, fmt: FormatOpt = Format.table) -> None:
    """List every campaign.

    Example:

        signpost campaign list --format json
    """
    from posts import campaigns
    from scheduler.output import render

    with reading(ctx) as (_ws, session):
        rows = campaigns.list_campaigns(session)
    render(rows, CAMPAIGN_COLUMNS, fmt)


@campaign_app.command("show")
def campaign_show(
    ctx: typer.Context,
    slug: Annotated[str, typer.Argument(help="The campaign's slug.")],
    fmt: FormatOpt = Format.table,
) -> None:
    """Show one campaign, its rules and its posts by state.

    Example:

        signpost campaign show stop-it-now
    """
    from posts import campaigns
    from scheduler.output import show

    with reading(ctx) as (ws, session):
        data = campaigns.show_campaign(session, slug, ws.policy)
    show(data, fmt, title=f"Campaign {slug}")


@campaign_app.command("slots")
def campaign_slots(
    ctx: typer.Context,
    slug: Annotated[str, typer.Argument(help="The campaign's slug.")],
    spec: Annotated[str, typer.Argument(help='Days and times, e.g. "Mon-Fri 09:00,13:00".')],
    fmt: FormatOpt = Format.table,
) -> None:
    """Set the campaign's queue slots, used by 'signpost post queue'.

    Times are wall-clock times in the campaign's zone; groups are separated by ';'.

    Example:

        signpost campaign slots stop-it-now "Mon-Fri 09:00,13:00; Sat 10:00"
    """
    from posts import deliveries, workflow
    from scheduler.output import show

    with writing(ctx) as (ws, session):
        campaign = deliveries.set_slots(
            session,
            ws.actor(),
            ws.clock.now(),
            campaign=workflow.get_campaign(session, slug),
            spec=spec,
        )
        data = workflow.campaign_dict(campaign)
    _say(f"campaign {slug}: queue slots {data['slots']}")
    show(data, fmt)


# --- posts ----------------------------------------------------------------------------------


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
            intended=_names(channels or ""),
        )
        data = workflow.post_dict(session, post, ws.policy)
    _say(f"created post {data['id']} (draft); next: signpost post preview {data['id']}")
    _show_post(data, fmt)


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
    from posts.rules import Content

    if link and no_link:
        raise UserError("give either --link or --no-link, not both")
    if image and no_images:
        raise UserError("give either --image or --no-images, not both")
    new_text = _read_text(text, file, required=False)
    new_media = _media(image, alt)
    with writing(ctx) as (ws, session):
        post = workflow.get_post(session, post_id)
        old = workflow.content_of(workflow.current_revision(session, post))
        variants = dict(old.variants)
        for name, value in _variants(variant).items():
            if value:
                variants[name] = value
            else:
                variants.pop(name, None)
        if alt and not image:
            raise UserError("--alt goes with --image; give the images again with their alt texts")
        content = Content(
            text=old.text if new_text is None else new_text,
            variants=variants,
            link=None if no_link else (link or old.link),
            media=() if no_images else (new_media or old.media),
        )
        post = workflow.edit_post(
            session,
            ws.actor(),
            ws.clock.now(),
            post=post,
            content=content,
            channels=ws.settings.channels,
            intended=None if channels is None else _names(channels),
        )
        data = workflow.post_dict(session, post, ws.policy)
    _say(f"post {post_id} is now revision {data['revision']} ({data['state']})")
    _show_post(data, fmt)


def _show_post(data: dict[str, Any], fmt: Format) -> None:
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
    _show_post(data, fmt)


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
        _say(f"{len(rows)} of {total} post(s){more}")


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
    _say(f"post {post_id}: no problems for {len(measured)} channel(s): {', '.join(measured)}")


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
        _say(
            f"to approve exactly this: signpost post approve {post_id} --revision {shown.revision}"
        )


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
    _say(
        f"post {post_id} revision {data['revision']} {done} by {ws.actor().name}: now"
        f" {data['state']} ({len(data['approvals'])} of {data['required']} approvals)"
    )
    if fmt == Format.json:
        _show_post(data, fmt)


# --- scheduling and delivery -----------------------------------------------------------------

DELIVERY_COLUMNS = ["id", "post", "channel", "state", "due", "attempts", "remote_url", "last_error"]


def _delivery_rows(rows: list) -> list[dict[str, Any]]:
    """Deliveries as dicts; ``due_local`` shows the campaign's wall time for people."""
    from posts.deliveries import delivery_dict
    from scheduler.when import show as local

    out = []
    for delivery, slug, tz in rows:
        data = delivery_dict(delivery, slug)
        data["due_local"] = local(delivery.due, tz or "UTC")
        out.append(data)
    return out


def _render_deliveries(rows: list[dict[str, Any]], fmt: Format, title: str | None = None) -> None:
    from scheduler.output import render

    if fmt == Format.table:
        rows = [{**r, "due": r["due_local"]} for r in rows]
    render(rows, DELIVERY_COLUMNS, fmt, widths={"last_error": 50, "remote_url": 60}, title=title)


ChannelsOpt = Annotated[
    str | None,
    typer.Option(
        "--channels", help="Comma-separated channel names [default: the post's intended ones]."
    ),
]
AgainOpt = Annotated[
    bool,
    typer.Option(
        "--again", help="Schedule even where the post already has a delivery: post it twice."
    ),
]


@post_app.command("schedule")
def post_schedule(
    ctx: typer.Context,
    post_id: PostId,
    at: Annotated[
        str,
        typer.Option(
            "--at",
            help='"2026-12-01 09:00" in the campaign\'s zone, an ISO time with offset, or "+15m".',
        ),
    ],
    channels: ChannelsOpt = None,
    expires: Annotated[
        str | None, typer.Option("--expires", help="Never send after this time (same formats).")
    ] = None,
    rrule: Annotated[
        str | None,
        typer.Option("--rrule", help="Repeat: an RFC 5545 rule, read in the campaign's zone."),
    ] = None,
    no_utm: Annotated[bool, typer.Option("--no-utm", help="Send links without UTM tags.")] = False,
    again: AgainOpt = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Schedule a post to channels; held until it is approved (and while paused).

    With --rrule each occurrence is its own delivery per channel, at the same wall-clock time
    in the campaign's zone across clock changes. A post that already has a delivery on a
    channel (waiting, sending or sent) is refused there unless --again: move that one with
    'signpost deliveries reschedule' instead.

    Example:

        signpost post schedule 3 --at "2026-12-01 09:00" --channels newsroom,feed

        signpost post schedule 5 --at "2027-03-01 09:00" --rrule "FREQ=WEEKLY;BYDAY=MO;COUNT=6" \\
            --channels mastodon

        signpost post schedule 4 --at "2026-12-03 17:00" --expires "2026-12-03 19:00" \\
            --channels feed
    """
    from posts import deliveries, workflow
    from posts.errors import UserError
    from scheduler.when import occurrences, parse_when

    if rrule and expires:
        raise UserError(
            "--expires goes with one time, not a --rrule series (each occurrence"
            " is missed after [daemon] grace anyway)"
        )
    with writing(ctx) as (ws, session):
        post = workflow.get_post(session, post_id)
        campaign = session.get(workflow.Campaign, post.campaign_id)
        now = ws.clock.now()
        due = parse_when(at, campaign.tz, now, "--at")
        dues = occurrences(rrule, due, campaign.tz) if rrule else [due]
        until = parse_when(expires, campaign.tz, now, "--expires") if expires else None
        created = deliveries.schedule(
            session,
            ws.actor(),
            now,
            post=post,
            dues=dues,
            expires=until,
            channel_names=None if channels is None else _names(channels),
            channels=ws.settings.channels,
            utm=not no_utm,
            again=again,
        )
        rows = _delivery_rows([(d, campaign.slug, campaign.tz) for d in created])
        state = post.state
    held = sum(1 for r in rows if r["state"] == "held")
    note = f"; {held} held until approved or resumed" if held else ""
    times = (
        f"at {rows[0]['due_local']}"
        if len(dues) == 1
        else (f"{len(dues)} times from {rows[0]['due_local']} to {rows[-1]['due_local']}")
    )
    names = sorted({r["channel"] for r in rows})
    _say(f"post {post_id} scheduled to {len(names)} channel(s) {times}{note}")
    if fmt == Format.json:
        from scheduler.output import emit_json

        emit_json({"post": post_id, "state": state, "deliveries": rows})
    else:
        _render_deliveries(rows, fmt)


def _names(channels: str) -> list[str]:
    """Channel names from a comma-separated option."""
    return [n.strip() for n in channels.split(",") if n.strip()]


@post_app.command("queue")
def post_queue(
    ctx: typer.Context,
    post_id: PostId,
    channels: Annotated[str, typer.Option("--channels", help="Comma-separated channel names.")],
    again: AgainOpt = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Schedule a post into its campaign's next free queue slot on each channel.

    Example:

        signpost post queue 7 --channels mastodon,bluesky
    """
    from posts import deliveries, workflow

    with writing(ctx) as (ws, session):
        post = workflow.get_post(session, post_id)
        campaign = session.get(workflow.Campaign, post.campaign_id)
        names = _names(channels)
        workflow.require_publishing(names, ws.settings.channels)
        created = deliveries.queue(
            session,
            ws.actor(),
            ws.clock.now(),
            post=post,
            channel_names=names,
            channels=ws.settings.channels,
            again=again,
        )
        rows = _delivery_rows([(d, campaign.slug, campaign.tz) for d in created])
        state = post.state
    for row in rows:
        _say(f"post {post_id} queued on {row['channel']} at {row['due_local']} ({row['state']})")
    if fmt == Format.json:
        from scheduler.output import emit_json

        emit_json({"post": post_id, "state": state, "deliveries": rows})
    else:
        _render_deliveries(rows, fmt)


@post_app.command("import")
def post_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A UTF-8 CSV file with a header row.")],
    campaign: Annotated[
        str | None, typer.Option("--campaign", help="Campaign for rows without one.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row, import nothing.")
    ] = False,
    submit: Annotated[
        bool, typer.Option("--submit", help="Submit the posts for approval.")
    ] = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Import posts from a spreadsheet (CSV): every row or none.

    Columns: text, at, channels (required); campaign, link, image, alt, expires,
    variant:<channel> (optional). Every problem of every row is listed at once as
    "row N, column C: ..."; then nothing is imported. Posts arrive as drafts, their
    deliveries held until approved.

    Example:

        signpost post import december.csv --campaign stop-it-now --dry-run

        signpost post import december.csv --campaign stop-it-now --submit
    """
    import sys

    from channels.registry import can_publish
    from posts import importer
    from scheduler.output import emit_json, error
    from scheduler.when import parse_when

    headers, rows = importer.read(file)

    def read_time(text: str, tz: str, column: str) -> Any:
        return parse_when(text, tz, now, column)

    with writing(ctx) as (ws, session):
        now = ws.clock.now()
        actor = ws.actor()
        actor.require(("author", "admin"), "import posts")
        publishing = [n for n, c in ws.settings.channels.items() if can_publish(c.type)]
        try:
            planned = importer.plan(
                session,
                file,
                headers,
                rows,
                default_campaign=campaign,
                channels=ws.settings.channels,
                publishing=publishing,
                read_time=read_time,
                now=now,
            )
        except importer.ImportProblems as exc:
            for line in exc.problems:
                sys.stderr.write(f"{line}\n")
            error(str(exc))
            raise typer.Exit(1) from None
        summary = {
            "file": str(file),
            "posts": len(planned.rows),
            "deliveries": planned.deliveries,
            "dry_run": dry_run,
            "ids": [],
        }
        if not dry_run:
            from rich.console import Console
            from rich.progress import Progress

            with Progress(console=Console(stderr=True), transient=True) as progress:
                task = progress.add_task("importing", total=len(planned.rows))
                summary["ids"] = importer.apply(
                    session,
                    actor,
                    now,
                    planned,
                    submit=submit,
                    progress=lambda n: progress.advance(task, n),
                )
            if submit and summary["ids"]:
                from posts import notices

                notices.notify(
                    session,
                    now,
                    ws.settings.notify,
                    "approval_requested",
                    f"{actor.name} imported {len(summary['ids'])} post(s) from {file.name} and"
                    " submitted them for approval: signpost post list --state submitted",
                    actor.name,
                )
    verb = "would import" if dry_run else "imported"
    state = "submitted" if submit else "drafts"
    _say(
        f"{file}: {verb} {summary['posts']} post(s) ({state}) with {summary['deliveries']}"
        " delivery(ies), held until approved"
    )
    if fmt == Format.json:
        emit_json(summary)


@deliveries_app.command("list")
def deliveries_list(
    ctx: typer.Context,
    state: Annotated[
        str | None, typer.Option("--state", help="Only deliveries in this state.")
    ] = None,
    post: Annotated[int | None, typer.Option("--post", help="Only this post's deliveries.")] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="At most this many, newest due first.")
    ] = 50,
    fmt: FormatOpt = Format.table,
) -> None:
    """List deliveries with their state, receipt and last error.

    Example:

        signpost deliveries list --state uncertain

        signpost deliveries list --post 3 --format json | jq '.[].remote_url'
    """
    from posts import deliveries

    with reading(ctx) as (_ws, session):
        rows = _delivery_rows(
            deliveries.list_deliveries(session, state=state, post_id=post, limit=limit)
        )
    _render_deliveries(rows, fmt)


@deliveries_app.command("retry")
def deliveries_retry(
    ctx: typer.Context,
    delivery_id: Annotated[int, typer.Argument(help="The delivery's id.")],
    at: Annotated[str | None, typer.Option("--at", help="When to send it [default: now].")] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Reschedule a failed, missed or uncertain delivery on purpose (same idempotency key).

    Example:

        signpost deliveries retry 12 --at "+5m"
    """
    from posts import deliveries
    from scheduler.when import parse_when

    with writing(ctx) as (ws, session):
        delivery = deliveries.get_delivery(session, delivery_id)
        _, _, tz = _with_campaign(session, delivery)
        now = ws.clock.now()
        due = parse_when(at, tz, now, "--at") if at else None
        delivery = deliveries.retry(session, ws.actor(), now, delivery=delivery, due=due)
        rows = _delivery_rows([_with_campaign(session, delivery)])
    _say(f"delivery {delivery_id} rescheduled for {rows[0]['due_local']} ({rows[0]['state']})")
    _render_deliveries(rows, fmt) if fmt == Format.table else _emit_one(rows[0])


@deliveries_app.command("resolve")
def deliveries_resolve(
    ctx: typer.Context,
    delivery_id: Annotated[int, typer.Argument(help="The uncertain delivery's id.")],
    sent: Annotated[
        str | None, typer.Option("--sent", help="It did go out: its public URL.")
    ] = None,
    not_sent: Annotated[bool, typer.Option("--not-sent", help="It did not go out.")] = False,
    fmt: FormatOpt = Format.table,
) -> None:
    """Settle an uncertain delivery after checking the channel by hand.

    Example:

        signpost deliveries resolve 12 --sent https://mastodon.example/@force/1234

        signpost deliveries resolve 13 --not-sent
    """
    from posts import deliveries

    with writing(ctx) as (ws, session):
        delivery = deliveries.get_delivery(session, delivery_id)
        delivery = deliveries.resolve(
            session, ws.actor(), ws.clock.now(), delivery=delivery, sent_url=sent, not_sent=not_sent
        )
        rows = _delivery_rows([_with_campaign(session, delivery)])
    _say(f"delivery {delivery_id} resolved: {rows[0]['state']}")
    _render_deliveries(rows, fmt) if fmt == Format.table else _emit_one(rows[0])


@deliveries_app.command("cancel")
def deliveries_cancel(
    ctx: typer.Context,
    delivery_id: Annotated[int, typer.Argument(help="The delivery's id.")],
    reason: Annotated[str | None, typer.Option("--reason", help="Why, for the audit log.")] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Cancel one delivery that has not gone out (pending, held or waiting to retry).

    The rest of the post's deliveries stay as they are; a running daemon drops it at once.
    One waiting to resend after a send whose outcome is unknown may already be out: it
    becomes uncertain, for you to check and resolve, instead of cancelled.

    Example:

        signpost deliveries cancel 12 --reason "scheduled twice by mistake"
    """
    from posts import deliveries
    from posts.lifecycle import UNSURE_WITHDRAWN

    with writing(ctx) as (ws, session):
        delivery = deliveries.cancel(
            session,
            ws.actor(),
            ws.clock.now(),
            delivery=deliveries.get_delivery(session, delivery_id),
            reason=reason,
        )
        rows = _delivery_rows([_with_campaign(session, delivery)])
    if rows[0]["state"] == "uncertain":  # an earlier send may have landed: a person checks
        _say(f"delivery {delivery_id} to {rows[0]['channel']} is uncertain: {UNSURE_WITHDRAWN}")
    else:
        _say(f"delivery {delivery_id} to {rows[0]['channel']} cancelled")
    _render_deliveries(rows, fmt) if fmt == Format.table else _emit_one(rows[0])


@deliveries_app.command("reschedule")
def deliveries_reschedule(
    ctx: typer.Context,
    delivery_id: Annotated[int, typer.Argument(help="The delivery's id.")],
    at: Annotated[
        str,
        typer.Option("--at", help="The new time, read like 'post schedule --at'."),
    ],
    expires: Annotated[
        str | None, typer.Option("--expires", help="A new expiry (same formats).")
    ] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Move a pending, held, missed or failed delivery to a new time (same idempotency key).

    Example:

        signpost deliveries reschedule 12 --at "2026-12-04 09:30"
    """
    from posts import deliveries
    from scheduler.when import parse_when

    with writing(ctx) as (ws, session):
        delivery = deliveries.get_delivery(session, delivery_id)
        _, _, tz = _with_campaign(session, delivery)
        now = ws.clock.now()
        delivery = deliveries.reschedule(
            session,
            ws.actor(),
            now,
            delivery=delivery,
            due=parse_when(at, tz, now, "--at"),
            expires=parse_when(expires, tz, now, "--expires") if expires else None,
        )
        rows = _delivery_rows([_with_campaign(session, delivery)])
    _say(f"delivery {delivery_id} moved to {rows[0]['due_local']} ({rows[0]['state']})")
    _render_deliveries(rows, fmt) if fmt == Format.table else _emit_one(rows[0])


def _with_campaign(session: Session, delivery: Any) -> tuple[Any, str | None, str]:
    """A delivery with its campaign's slug and zone (a notification has neither: UTC)."""
    from posts.models import Campaign, Post

    if delivery.post_id is None:
        return delivery, None, "UTC"
    campaign = session.get(Campaign, session.get(Post, delivery.post_id).campaign_id)
    return delivery, campaign.slug, campaign.tz


def _emit_one(row: dict[str, Any]) -> None:
    from scheduler.output import emit_json

    emit_json(row)


class CalendarFormat(StrEnum):
    """Formats of the content calendar."""

    table = "table"
    json = "json"
    ics = "ics"
    html = "html"


@app.command()
def calendar(
    ctx: typer.Context,
    start: Annotated[
        str | None, typer.Option("--from", help="From this day or time [default: today].")
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Through this day (a date includes all of it), or up to this time (not"
            " included) [default: 30 days on].",
        ),
    ] = None,
    fmt: Annotated[
        CalendarFormat,
        typer.Option("--format", "-f", help="table, json, ics (calendar apps) or html (a page)."),
    ] = CalendarFormat.table,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Every delivery due in a period, in time order, in each campaign's time zone.

    --to 2026-12-08 includes the whole of the 8th; --to "2026-12-08 12:00" stops just
    before noon. Days are read in the config's [defaults] tz.

    --format ics gives one event per delivery (its UID is the delivery's key, so calendar
    apps update events rather than duplicate them); --format html one static page, a week
    per row, usable offline.

    Example:

        signpost calendar --from 2026-12-01 --to 2026-12-08

        signpost calendar --format ics --output campaign.ics

        signpost calendar --format html --from 2026-12-01 --to 2027-01-31 -o plan.html
    """
    import sys
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from posts import deliveries
    from posts.errors import UserError
    from scheduler.calendars import period_end, to_html, to_ics
    from scheduler.when import parse_when

    with reading(ctx) as (ws, session):
        now = ws.clock.now()
        tz = ws.settings.default_tz
        begin = parse_when(start, tz, now, "--from") if start else now - timedelta(days=1)
        finish = period_end(end, tz, now, "--to") if end else begin + timedelta(days=30)
        if finish <= begin:
            raise UserError("--to must be after --from")
        rows = _delivery_rows(
            deliveries.list_deliveries(
                session, start=begin, end=finish, newest_first=False, notices=False
            )
        )
        texts = deliveries.texts_of(session, [r["post"] for r in rows])
    for row in rows:
        row["text"] = texts.get(row["post"], "")
    if fmt in (CalendarFormat.table, CalendarFormat.json):
        if output is not None:
            raise UserError("--output goes with --format ics or html")
        _render_deliveries(rows, Format(fmt.value), title="Calendar")
        return
    if fmt == CalendarFormat.ics:
        data = to_ics(rows, now)
    else:
        zone = ZoneInfo(tz)
        data = to_html(
            rows,
            tz,
            "Signpost campaign calendar",
            begin.astimezone(zone).date(),
            (finish - timedelta(microseconds=1)).astimezone(zone).date(),
        ).encode()
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        try:
            output.write_bytes(data)
        except OSError as exc:
            raise UserError(f"--output {output}: cannot be written ({exc.strerror})") from None
        _say(f"wrote {len(rows)} deliveries to {output}")


class ReportFormat(StrEnum):
    """Formats of the campaign report."""

    table = "table"
    json = "json"
    csv = "csv"


@app.command()
def report(
    ctx: typer.Context,
    campaign: Annotated[str, typer.Option("--campaign", help="The campaign's slug.")],
    start: Annotated[str | None, typer.Option("--from", help="Sent from this day or time.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Sent before this day or time.")] = None,
    fmt: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="table, json or csv.")
    ] = ReportFormat.table,
) -> None:
    """What went out where: every sent post per channel, its public URL and tagged link,
    with totals per channel and per week (in the campaign's time zone).

    Example:

        signpost report --campaign stop-it-now --from 2026-12-01 --to 2027-01-01

        signpost report --campaign stop-it-now --format csv > reach.csv
    """
    import csv
    import sys

    from posts import workflow
    from posts.report import COLUMNS
    from posts.report import report as build
    from scheduler.output import emit_json, render
    from scheduler.when import parse_when

    with reading(ctx) as (ws, session):
        camp = workflow.get_campaign(session, campaign)
        now = ws.clock.now()
        data = build(
            session,
            camp,
            start=parse_when(start, camp.tz, now, "--from") if start else None,
            end=parse_when(end, camp.tz, now, "--to") if end else None,
            channel_types=ws.settings.channel_types(),
        )
    if fmt == ReportFormat.json:
        emit_json(data)
    elif fmt == ReportFormat.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(data["deliveries"])
    else:
        render(
            data["deliveries"],
            list(COLUMNS),
            Format.table,
            widths={"text": 40, "link": 60, "remote_url": 50},
            title=f"Report: {campaign}",
        )
        totals = data["totals"]
        rows = [{"total": f"channel {k}", "sent": v} for k, v in totals["by_channel"].items()]
        rows += [{"total": f"week {k}", "sent": v} for k, v in totals["by_week"].items()]
        rows.append({"total": "all", "sent": totals["sent"]})
        render(rows, ["total", "sent"], Format.table)


ScopeCampaign = Annotated[str | None, typer.Option("--campaign", help="Only this campaign.")]
ScopeChannel = Annotated[str | None, typer.Option("--channel", help="Only this channel.")]


def _scope(campaign: str | None, channel: str | None, ws: Workspace) -> tuple[str, str | None]:
    from posts.errors import UserError

    if campaign and channel:
        raise UserError("give --campaign or --channel, not both (or neither, for everything)")
    if channel and channel not in ws.settings.channels:
        raise UserError(
            f"--channel: no channel named '{channel}'"
            f" (configured: {', '.join(sorted(ws.settings.channels)) or 'none'})"
        )
    if campaign:
        return "campaign", campaign
    if channel:
        return "channel", channel
    return "all", None


@app.command()
def pause(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option("--reason", help="Why; shown to whoever resumes.")],
    campaign: ScopeCampaign = None,
    channel: ScopeChannel = None,
) -> None:
    """Stop publishing (everything, one campaign or one channel) until resumed.

    Takes effect at the next claim, in a running daemon too. Due deliveries wait; past
    the grace period they are missed, never sent late.

    Example:

        signpost pause --reason "Major incident: hold all comms"

        signpost pause --channel mastodon --reason "Account under review"
    """
    from posts import deliveries

    with writing(ctx) as (ws, session):
        scope, target = _scope(campaign, channel, ws)
        deliveries.pause(
            session, ws.actor(), ws.clock.now(), scope=scope, target=target, reason=reason
        )
    _say(f"paused {'everything' if scope == 'all' else f'{scope} {target}'}: {reason}")


@app.command()
def resume(
    ctx: typer.Context, campaign: ScopeCampaign = None, channel: ScopeChannel = None
) -> None:
    """Lift a pause set with 'signpost pause' (the same scope).

    Example:

        signpost resume --channel mastodon
    """
    from posts import deliveries

    with writing(ctx) as (ws, session):
        scope, target = _scope(campaign, channel, ws)
        deliveries.resume(session, ws.actor(), ws.clock.now(), scope=scope, target=target)
    _say(f"resumed {'everything' if scope == 'all' else f'{scope} {target}'}")


@channels_app.command("list")
def channels_list(ctx: typer.Context, fmt: FormatOpt = Format.table) -> None:
    """Every configured channel, its type, and whether it can publish yet.

    Example:

        signpost channels list --format json
    """
    from channels.registry import can_publish
    from scheduler.output import render

    ws = workspace(ctx, initialised=False)
    rows = [
        {
            "name": name,
            "type": ch.type,
            "url": ch.options.get("url") or ch.options.get("path") or ch.options.get("host"),
            "secret": (ch.options.get("token_env") and f"${ch.options['token_env']}")
            or ch.options.get("token_file"),
            "publishes": can_publish(ch.type),
        }
        for name, ch in sorted(ws.settings.channels.items())
    ]
    render(rows, ["name", "type", "url", "secret", "publishes"], fmt)


@channels_app.command("check")
def channels_check(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="One channel [default: all].")] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Connect and authenticate to each channel without posting anything.

    Exits 1 if any channel fails.

    Example:

        signpost channels check newsroom
    """
    import httpx

    from channels.base import ChannelError
    from posts.errors import UserError
    from scheduler.output import render
    from scheduler.workspace import open_channels

    ws = workspace(ctx, initialised=False)
    configured = ws.settings.channels
    if name is not None and name not in configured:
        raise UserError(
            f"no channel named '{name}' (configured: {', '.join(sorted(configured)) or 'none'})"
        )
    rows = []
    with httpx.Client(timeout=15) as client:
        adapters = open_channels(ws.settings, ws.clock, client)
        for channel_name in [name] if name else sorted(configured):
            adapter = adapters.get(channel_name)
            if adapter is None:
                ok, said = False, f"type {configured[channel_name].type} cannot publish yet"
            else:
                try:
                    ok, said = True, adapter.check()
                except ChannelError as exc:
                    ok, said = False, str(exc)
            rows.append(
                {
                    "name": channel_name,
                    "type": configured[channel_name].type,
                    "ok": ok,
                    "detail": said,
                }
            )
    render(rows, ["name", "type", "ok", "detail"], fmt)
    if not all(r["ok"] for r in rows):
        raise typer.Exit(1)


@app.command()
def daemon(
    ctx: typer.Context,
    once: Annotated[
        bool, typer.Option("--once", help="Process what is due now, then exit.")
    ] = False,
) -> None:
    """Publish approved posts on time until stopped (SIGTERM or Ctrl-C stop it cleanly).

    Run it under systemd (docs/signpost.service). Several daemons may share one database.
    With --once it exits 1 if a delivery it handled failed or is uncertain.

    Example:

        signpost --config /etc/signpost/config.toml daemon

        signpost daemon --once    # from cron, or to catch up by hand
    """
    import logging

    import httpx

    from scheduler.daemon import Daemon, daemon_id, needs_a_person
    from scheduler.output import error
    from scheduler.workspace import make_engine

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    ws = workspace(ctx)
    with httpx.Client(timeout=30) as client:
        engine = make_engine(ws, client, daemon_id())
        if once:
            report = engine.tick()
            _say(
                f"sent {report.sent}, retrying {report.retrying}, failed {report.failed},"
                f" uncertain {report.uncertain}, missed {report.missed}"
            )
            if problem := needs_a_person(report):
                error(problem)
                raise typer.Exit(1)
            return
        runner = Daemon(
            engine=engine,
            sync_interval=ws.settings.daemon.sync_interval,
            health=ws.settings.daemon.health,
        )
        runner.install_signal_handlers()
        runner.run()


# --- audit ----------------------------------------------------------------------------------


@audit_app.command("log")
def audit_log(
    ctx: typer.Context,
    post: Annotated[int | None, typer.Option("--post", help="Only this post's events.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="The newest N events.")] = 50,
    fmt: FormatOpt = Format.table,
) -> None:
    """Show the newest audit events, oldest first.

    Example:

        signpost audit log --post 3
    """
    from posts import audit
    from scheduler.output import render

    with reading(ctx) as (_ws, session):
        rows = [
            audit.as_dict(e)
            for e in audit.events(session, subject=f"post:{post}" if post else None, limit=limit)
        ]
    render(
        rows, ["seq", "time", "actor", "action", "subject", "details"], fmt, widths={"details": 70}
    )


@audit_app.command("verify")
def audit_verify(ctx: typer.Context, fmt: FormatOpt = Format.table) -> None:
    """Recompute the hash chain; exit 1 naming the first event that was changed, removed,
    inserted or reordered.

    Keep the printed head hash somewhere else: it also proves that no newest events were
    removed.

    Example:

        signpost audit verify
    """
    from posts import audit
    from scheduler.output import emit_json, error

    with reading(ctx) as (_ws, session):
        verdict = audit.verify(audit.chain_rows(session))
    if fmt == Format.json:
        emit_json(
            {
                "ok": verdict.ok,
                "events": verdict.count,
                "head": verdict.head,
                "bad_seq": verdict.bad_seq,
                "reason": verdict.reason,
            }
        )
    if not verdict.ok:
        error(
            f"audit chain broken at seq {verdict.bad_seq}: {verdict.reason}"
            f" ({verdict.count} event(s) before it verify)"
        )
        raise typer.Exit(1)
    if fmt == Format.table:
        typer.echo(f"audit log OK: {verdict.count} events, head {verdict.head}")


@audit_app.command("export")
def audit_export(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv or jsonl.")] = "jsonl",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Export every audit event with its hashes (for a Freedom of Information request).

    Example:

        signpost audit export --format csv --output foi-2026-11.csv
    """
    import sys

    from posts import audit
    from posts.errors import UserError

    if fmt not in ("csv", "jsonl"):
        raise UserError(f"--format '{fmt}': expected csv or jsonl")
    with reading(ctx) as (_ws, session):
        if output is None:
            count = audit.export(session, sys.stdout, fmt)
        else:
            try:
                with output.open("w", encoding="utf-8", newline="") as out:
                    count = audit.export(session, out, fmt)
            except OSError as exc:
                raise UserError(f"--output {output}: cannot be written ({exc.strerror})") from None
    _say(f"exported {count} audit event(s)" + (f" to {output}" if output else ""))


# --- demo -----------------------------------------------------------------------------------


@app.command()
def demo(
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the demo workspace and print where it is.")
    ] = False,
) -> None:
    """Run a self-contained demo campaign in a throwaway workspace.

    alice writes a post for the Stop It Now campaign, bob approves it, and the audit log is
    verified. Touches nothing outside a temporary folder.

    Example:

        signpost demo --keep
    """
    from scheduler.demo import run

    raise typer.Exit(run(keep=keep))


def _say(text: str) -> None:
    from scheduler.output import message

    message(text)


def main() -> None:
    """Console entry point."""
    app()
