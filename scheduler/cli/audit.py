"""``signpost audit log|verify|export``: reading and proving the hash-chained audit log."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scheduler.cli.app import audit_app
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
    say(f"exported {count} audit event(s)" + (f" to {output}" if output else ""))
