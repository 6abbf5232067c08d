"""``signpost calendar`` and ``signpost report``: what is planned, and what went out."""

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from scheduler.cli.deliveries import render_deliveries
from scheduler.cli.groups import app
from scheduler.cli.options import reading, say
from scheduler.output import Format


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

    from posts import views
    from posts.errors import UserError
    from scheduler.calendars import period_end, to_html, to_ics
    from scheduler.when import parse_when

    with reading(ctx) as (ws, session):
        now = ws.clock.now()
        tz = ws.settings.default_tz
        begin = parse_when(start, tz, now, "--from") if start else now - timedelta(days=1)
        finish = period_end(end, tz, now, "--to") if end else begin + timedelta(days=30)
        rows = views.calendar(session, start=begin, end=finish)
    if fmt in (CalendarFormat.table, CalendarFormat.json):
        if output is not None:
            raise UserError("--output goes with --format ics or html")
        render_deliveries(rows, Format(fmt.value), title="Calendar")
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
        say(f"wrote {len(rows)} deliveries to {output}")


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
