"""``signpost campaign add|edit|list|show``: campaigns and their content rules.

(``campaign slots`` is with the other scheduling commands, in ``scheduler.cli.scheduling``.)
"""

from typing import Annotated, Any

import typer

from scheduler.cli.groups import campaign_app
from scheduler.cli.options import FormatOpt, reading, say, writing
from scheduler.output import Format

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
    say(f"created campaign {slug}")
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
    say(f"campaign {slug}: changed {', '.join(changed)}")
    for warning in warnings:
        say(f"note: {warning}")
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
