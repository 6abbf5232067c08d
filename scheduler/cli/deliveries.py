"""``signpost deliveries list|retry|resolve|cancel|reschedule``: one delivery at a time.

``render_deliveries`` is also how ``post schedule``, ``post queue`` and ``calendar`` show
theirs.
"""

from typing import Annotated, Any

import typer

from scheduler.cli.groups import deliveries_app
from scheduler.cli.options import FormatOpt, reading, say, writing
from scheduler.output import Format

DELIVERY_COLUMNS = ["id", "post", "channel", "state", "due", "attempts", "remote_url", "last_error"]


def render_deliveries(rows: list[dict[str, Any]], fmt: Format, title: str | None = None) -> None:
    """Delivery rows (``posts.views.delivery_rows``): due in the campaign's wall time for
    people, every key for a pipe."""
    from scheduler.output import render

    if fmt == Format.table:
        rows = [{**r, "due": r["due_local"]} for r in rows]
    render(rows, DELIVERY_COLUMNS, fmt, widths={"last_error": 50, "remote_url": 60}, title=title)


def render_one(row: dict[str, Any], fmt: Format) -> None:
    """The one delivery a command acted on: a table row for people, its object for a pipe."""
    from scheduler.output import emit_json

    render_deliveries([row], fmt) if fmt == Format.table else emit_json(row)


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
    from posts import views

    with reading(ctx) as (_ws, session):
        rows = views.list_delivery_rows(session, state=state, post_id=post, limit=limit)
    render_deliveries(rows, fmt)


@deliveries_app.command("retry")
def deliveries_retry(
    ctx: typer.Context,
    delivery_id: Annotated[int, typer.Argument(help="The delivery's id.")],
    at: Annotated[str | None, typer.Option("--at", help="When to send it [default: now].")] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Reschedule a failed, missed or uncertain delivery on purpose (same idempotency key).

    An uncertain delivery may already be out: check the channel first, and if the post is
    there, settle it with 'signpost deliveries resolve ID --sent URL' instead, or it goes out
    twice.

    Example:

        signpost deliveries retry 12 --at "+5m"
    """
    from posts import deliveries, views
    from scheduler.when import parse_when

    with writing(ctx) as (ws, session):
        delivery = deliveries.get_delivery(session, delivery_id)
        tz = views.delivery_zone(session, delivery)
        now = ws.clock.now()
        due = parse_when(at, tz, now, "--at") if at else None
        delivery = deliveries.retry(session, ws.actor(), now, delivery=delivery, due=due)
        rows = views.shown(session, [delivery])
    say(f"delivery {delivery_id} rescheduled for {rows[0]['due_local']} ({rows[0]['state']})")
    render_one(rows[0], fmt)


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
    from posts import deliveries, views

    with writing(ctx) as (ws, session):
        delivery = deliveries.get_delivery(session, delivery_id)
        delivery = deliveries.resolve(
            session, ws.actor(), ws.clock.now(), delivery=delivery, sent_url=sent, not_sent=not_sent
        )
        rows = views.shown(session, [delivery])
    say(f"delivery {delivery_id} resolved: {rows[0]['state']}")
    render_one(rows[0], fmt)


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
    from posts import deliveries, views
    from posts.lifecycle import UNSURE_WITHDRAWN

    with writing(ctx) as (ws, session):
        delivery = deliveries.cancel(
            session,
            ws.actor(),
            ws.clock.now(),
            delivery=deliveries.get_delivery(session, delivery_id),
            reason=reason,
        )
        rows = views.shown(session, [delivery])
    if rows[0]["state"] == "uncertain":  # an earlier send may have landed: a person checks
        say(f"delivery {delivery_id} to {rows[0]['channel']} is uncertain: {UNSURE_WITHDRAWN}")
    else:
        say(f"delivery {delivery_id} to {rows[0]['channel']} cancelled")
    render_one(rows[0], fmt)


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
    from posts import deliveries, views
    from scheduler.when import parse_when

    with writing(ctx) as (ws, session):
        delivery = deliveries.get_delivery(session, delivery_id)
        tz = views.delivery_zone(session, delivery)
        now = ws.clock.now()
        delivery = deliveries.reschedule(
            session,
            ws.actor(),
            now,
            delivery=delivery,
            due=parse_when(at, tz, now, "--at"),
            expires=parse_when(expires, tz, now, "--expires") if expires else None,
        )
        rows = views.shown(session, [delivery])
    say(f"delivery {delivery_id} moved to {rows[0]['due_local']} ({rows[0]['state']})")
    render_one(rows[0], fmt)
