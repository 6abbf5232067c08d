"""``signpost init`` and ``signpost status``: the database as a whole (``posts.status``)."""

import typer

from scheduler.cli.groups import app
from scheduler.cli.options import FormatOpt, reading, say, workspace
from scheduler.output import Format


@app.command()
def init(ctx: typer.Context) -> None:
    """Create the database, or upgrade it to this version's schema. Safe to run again.

    Example:

        signpost --config /etc/signpost/config.toml init
    """
    from posts.status import initialise
    from posts.store import describe

    ws = workspace(ctx, initialised=False)
    actor = ws.actor().name  # refuse a bad SIGNPOST_ACTOR before touching the database
    before, after = initialise(ws.store, actor, ws.clock.now())
    where = describe(ws.store.url)
    if before == after:
        say(f"database {where} is up to date (schema {after})")
    else:
        say(f"database {where} {'created' if before is None else 'upgraded'} (schema {after})")


@app.command()
def status(ctx: typer.Context, fmt: FormatOpt = Format.table) -> None:
    """Counts of posts by state, the audit log's length and head, and where the data lives.

    Example:

        signpost status --format json | jq .posts
    """
    from posts.status import status as summary
    from posts.store import describe
    from scheduler.output import emit_json, render

    with reading(ctx) as (ws, session):
        data = summary(
            session,
            ws.clock.now(),
            database=describe(ws.store.url),
            config=str(ws.settings.path),
            channels=ws.settings.channels,
        )
    by_state = data["posts"]
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
