"""Running Signpost: pause and resume, the channels, the daemon, the demo, and importing a
spreadsheet of posts (``signpost post import``)."""

from pathlib import Path
from typing import Annotated

import typer

from scheduler.cli.groups import app, channels_app, post_app
from scheduler.cli.options import FormatOpt, require_channel, say, workspace, writing
from scheduler.output import Format


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
    from posts import importer
    from scheduler.output import emit_json
    from scheduler.when import parse_when

    headers, rows = importer.read(file)
    with writing(ctx) as (ws, session):
        now = ws.clock.now()
        actor = ws.actor()
        planned = importer.plan(  # ImportProblems lists every row's problems (cli.errors)
            session,
            actor,
            file,
            headers,
            rows,
            default_campaign=campaign,
            channels=ws.settings.channels,
            read_time=parse_when,
            now=now,
        )
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
                    notify=ws.settings.notify,
                    progress=lambda n: progress.advance(task, n),
                )
    verb = "would import" if dry_run else "imported"
    state = "submitted" if submit else "drafts"
    say(
        f"{file}: {verb} {summary['posts']} post(s) ({state}) with {summary['deliveries']}"
        " delivery(ies), held until approved"
    )
    if fmt == Format.json:
        emit_json(summary)


ScopeCampaign = Annotated[str | None, typer.Option("--campaign", help="Only this campaign.")]
ScopeChannel = Annotated[str | None, typer.Option("--channel", help="Only this channel.")]


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
    from posts.holds import pause_scope

    with writing(ctx) as (ws, session):
        scope, target = pause_scope(campaign, channel, ws.settings.channels)
        deliveries.pause(
            session, ws.actor(), ws.clock.now(), scope=scope, target=target, reason=reason
        )
    say(f"paused {'everything' if scope == 'all' else f'{scope} {target}'}: {reason}")


@app.command()
def resume(
    ctx: typer.Context, campaign: ScopeCampaign = None, channel: ScopeChannel = None
) -> None:
    """Lift a pause set with 'signpost pause' (the same scope).

    Example:

        signpost resume --channel mastodon
    """
    from posts import deliveries
    from posts.holds import pause_scope

    with writing(ctx) as (ws, session):
        scope, target = pause_scope(campaign, channel, ws.settings.channels)
        deliveries.resume(session, ws.actor(), ws.clock.now(), scope=scope, target=target)
    say(f"resumed {'everything' if scope == 'all' else f'{scope} {target}'}")


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
    from scheduler.output import render
    from scheduler.workspace import open_channels

    ws = workspace(ctx, initialised=False)
    configured = ws.settings.channels
    if name is not None:
        require_channel(configured, name)
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
    # APScheduler only wakes the loop: its lines for every wake-up added, run and removed
    # tell an operator nothing (its warnings and errors still show)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    ws = workspace(ctx)
    with httpx.Client(timeout=30) as client:
        engine = make_engine(ws, client, daemon_id())
        if once:
            report = engine.tick()
            say(
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

    raise typer.Exit(run(app, keep=keep))  # the demo drives this app; it never imports it
