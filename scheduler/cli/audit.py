"""``signpost audit log|verify|checkpoint|export``: reading and proving the hash-chained log.

A checkpoint is the chain's head kept outside the database (posts.checkpoints); ``--file``
proves an export without the database (posts.auditfile).
"""

from pathlib import Path
from typing import Annotated, Any

import typer

from scheduler.cli.groups import audit_app
from scheduler.cli.options import FormatOpt, reading, say
from scheduler.output import Format


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


SinceOpt = Annotated[
    str | None,
    typer.Option(
        "--since",
        metavar="CHECKPOINT",
        help="Prove only the events after this checkpoint (as 'audit checkpoint' prints it).",
    ),
]
FileOpt = Annotated[
    Path | None,
    typer.Option(
        "--file", help="Prove this export (csv or jsonl) instead of the database; no config."
    ),
]


@audit_app.command("verify")
def audit_verify(
    ctx: typer.Context,
    since: SinceOpt = None,
    file: FileOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Recompute the hash chain; exit 1 naming the first event that was changed, removed,
    inserted or reordered.

    The head it prints is a checkpoint: keep it somewhere else. It proves later that no
    event up to it was rewritten or removed, and --since starts the next check there.
    --file proves an export without the database (Freedom of Information).

    Example:

        signpost audit verify

        signpost audit verify --since "$(tail -n 1 checkpoints.txt)"

        signpost audit verify --file foi-2026-11.csv
    """
    from posts.checkpoints import head
    from scheduler.output import emit_json

    verdict, start, where = _proven(ctx, since, file)
    if fmt == Format.json:
        emit_json(
            {
                "ok": verdict.ok,
                "events": verdict.count,
                "head": verdict.head,
                "bad_seq": verdict.bad_seq,
                "reason": verdict.reason,
                "since": str(start) if start.seq else None,
                "checkpoint": str(head(verdict)) if verdict.ok else None,
                "by_value": verdict.by_value,
            }
        )
    _stop_if_broken(verdict, start, where)
    if fmt == Format.table:
        after = f" after seq {start.seq}" if start.seq else ""
        typer.echo(f"{file or 'audit log'} OK: {verdict.count} events{after}, head {head(verdict)}")
    if verdict.by_value:
        say(
            f"{verdict.by_value} of them are stored as other JSON text than was hashed, with"
            " the same meaning (as an older version may have written it): they verify by value"
        )


@audit_app.command("checkpoint")
def audit_checkpoint(
    ctx: typer.Context,
    since: SinceOpt = None,
    file: FileOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Prove the chain, then print its head as a checkpoint to keep outside the database.

    Nothing is printed on stdout unless the chain verifies, so a daily job can append the
    output to a file elsewhere and start each check at the last line.

    Example:

        signpost audit checkpoint >> checkpoints.txt

        signpost audit checkpoint --since "$(tail -n 1 checkpoints.txt)" >> checkpoints.txt
    """
    from posts.checkpoints import head
    from scheduler.output import emit_json

    verdict, start, where = _proven(ctx, since, file)
    _stop_if_broken(verdict, start, where)
    checkpoint = head(verdict)
    if fmt == Format.json:
        emit_json(
            {
                "checkpoint": str(checkpoint),
                "seq": checkpoint.seq,
                "hash": checkpoint.hash,
                "events": verdict.count,
                "since": str(start) if start.seq else None,
            }
        )
    else:
        typer.echo(str(checkpoint))
    say(f"proved {verdict.count} event(s)" + (f" after seq {start.seq}" if start.seq else ""))


def _proven(ctx: typer.Context, since: str | None, file: Path | None) -> tuple[Any, Any, str]:
    """The verdict on the database's chain or on ``file``'s, from ``since`` if given; the
    checkpoint it started from; and where in the file it stopped (empty for the database)."""
    from posts import audit, checkpoints
    from posts.auditfile import ExportFile

    start = checkpoints.parse(since) if since is not None else checkpoints.START
    if file is not None:
        export = ExportFile(file)
        verdict = audit.verify(export.rows(), start)
        return verdict, start, f" ({file}, line {export.line})"
    with reading(ctx) as (_ws, session):
        return checkpoints.prove(session, start), start, ""


def _stop_if_broken(verdict: Any, start: Any, where: str) -> None:
    """Exit 1 with one line naming the first bad event, if there is one."""
    from scheduler.output import error

    if verdict.ok:
        return
    before = f"after seq {start.seq}" if start.seq else "before it"
    error(
        f"audit chain broken at seq {verdict.bad_seq}{where}: {verdict.reason}"
        f" ({verdict.count} event(s) {before} verify)"
    )
    raise typer.Exit(1)


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
    say(f"exported {count} audit event(s)" + (f" to {output}" if output else ""))
