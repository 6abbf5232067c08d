"""``signpost post schedule|queue`` and ``signpost campaign slots``: when posts go out.

Times are read as typed, in the campaign's zone (``scheduler.when``); the series, the slots
and every refusal are ``posts.scheduling``'s.
"""

from typing import Annotated

import typer

from scheduler.cli.deliveries import render_deliveries
from scheduler.cli.groups import campaign_app, post_app
from scheduler.cli.options import FormatOpt, PostId, say, split_names, writing
from scheduler.output import Format


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
    say(f"campaign {slug}: queue slots {data['slots']}")
    show(data, fmt)


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
    from posts import scheduling, views, workflow
    from scheduler.when import parse_when

    when = scheduling.When(at, rrule=rrule, expires=expires)  # refuses --rrule with --expires
    with writing(ctx) as (ws, session):
        post = workflow.get_post(session, post_id)
        created = scheduling.schedule_series(
            session,
            ws.actor(),
            ws.clock.now(),
            post=post,
            when=when,
            read_time=parse_when,
            channel_names=None if channels is None else split_names(channels),
            channels=ws.settings.channels,
            utm=not no_utm,
            again=again,
        )
        rows = views.shown(session, created)
        state = post.state
    held = sum(1 for r in rows if r["state"] == "held")
    note = f"; {held} held until approved or resumed" if held else ""
    dues = len(dict.fromkeys(r["due"] for r in rows))  # one delivery per channel and time
    times = (
        f"at {rows[0]['due_local']}"
        if dues == 1
        else (f"{dues} times from {rows[0]['due_local']} to {rows[-1]['due_local']}")
    )
    names = sorted({r["channel"] for r in rows})
    say(f"post {post_id} scheduled to {len(names)} channel(s) {times}{note}")
    if fmt == Format.json:
        from scheduler.output import emit_json

        emit_json({"post": post_id, "state": state, "deliveries": rows})
    else:
        render_deliveries(rows, fmt)


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
    from posts import deliveries, views, workflow

    with writing(ctx) as (ws, session):
        post = workflow.get_post(session, post_id)
        created = deliveries.queue(
            session,
            ws.actor(),
            ws.clock.now(),
            post=post,
            channel_names=split_names(channels),
            channels=ws.settings.channels,
            again=again,
        )
        rows = views.shown(session, created)
        state = post.state
    for row in rows:
        say(f"post {post_id} queued on {row['channel']} at {row['due_local']} ({row['state']})")
    if fmt == Format.json:
        from scheduler.output import emit_json

        emit_json({"post": post_id, "state": state, "deliveries": rows})
    else:
        render_deliveries(rows, fmt)
