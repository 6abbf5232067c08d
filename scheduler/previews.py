"""Rendering a post's preview: a panel per channel for people, one JSON object for pipes.

The content comes from ``posts.preview`` (the composer the engine sends with); this module
only lays it out. Text is shown as written, never as Rich markup, so "[b]" in a post stays
"[b]".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scheduler.output import Format, emit_json

if TYPE_CHECKING:
    from posts.preview import ChannelPreview, PostPreview


def preview_dict(pv: PostPreview) -> dict[str, Any]:
    """The whole preview as JSON-ready data."""
    return {
        "post": pv.post_id,
        "revision": pv.revision,
        "content_hash": pv.content_hash,
        "author": pv.author,
        "approved_revision": pv.approved_revision,
        "channels": [c.as_dict() for c in pv.channels],
    }


def render_preview(pv: PostPreview, fmt: Format, *, stderr: bool = False) -> None:
    """Print the preview: JSON on stdout, or one panel per channel (on stderr if asked)."""
    if fmt == Format.json:
        emit_json(preview_dict(pv))
        return
    from rich.console import Console, Group
    from rich.panel import Panel
    from rich.text import Text

    from scheduler.output import PIPE_WIDTH

    console = Console(highlight=False, stderr=stderr)
    if not console.is_terminal:
        console = Console(highlight=False, stderr=stderr, width=PIPE_WIDTH)
    against = (
        f", changes against approved revision {pv.approved_revision} shown"
        if pv.approved_revision
        else ""
    )
    console.print(
        Text(
            f"Post {pv.post_id}, revision {pv.revision} by {pv.author}"
            f" (content hash {pv.content_hash[:12]}){against}",
            style="bold",
        )
    )
    for channel in pv.channels:
        parts: list[Any] = [Text(channel.message.text)]
        parts += [Text(line, style="dim") for line in _details(channel)]
        parts += [Text(f"problem: {p}", style="red") for p in channel.problems]
        if channel.diff:
            parts.append(Text("\n".join(channel.diff), style="yellow"))
        console.print(Panel(Group(*parts), title=Text(_title(channel)), title_align="left"))


def _title(channel: ChannelPreview) -> str:
    top = channel.binding
    measured = (
        " · ".join(f"{m.count}/{m.limit} {m.unit}" for m in channel.measures)
        if top
        else "no length limit"
    )
    verdict = "OK" if not channel.problems else f"{len(channel.problems)} problem(s)"
    return f"{channel.channel} ({channel.type}) · {measured} · {verdict}"


def _details(channel: ChannelPreview) -> list[str]:
    from channels.outgoing import link_as_field

    lines = []
    if link_as_field(channel.type) and channel.message.link:
        lines.append(f"link: {channel.message.link}")
    lines += [f"image: {m.path} (alt: {m.alt or 'MISSING'})" for m in channel.message.media]
    return lines
