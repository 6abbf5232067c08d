"""``signpost demo``: the product's story in one command, on a throwaway workspace.

It writes its own config (alice writes, bob approves, actor override on so one terminal can
play both) into a temporary folder and drives the real CLI in-process, printing each command
as a user would type it, so what the demo shows is exactly what the commands do.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from scheduler.output import message

DEMO_CONFIG = """\
[database]
url = "sqlite:///signpost.db"

[security]
allow_actor_override = true   # the demo plays alice and bob from one terminal

[users.alice]
roles = ["author"]

[users.bob]
roles = ["approver"]

[users.carol]
roles = ["author", "approver", "admin"]

[channels.mastodon]
type = "mastodon"
url = "https://mastodon.example"
token_env = "SIGNPOST_DEMO_MASTODON_TOKEN"

[channels.bluesky]
type = "bluesky"
url = "https://bsky.social"
handle = "stopitnow-demo.bsky.social"
token_env = "SIGNPOST_DEMO_BLUESKY_PASSWORD"
"""

POST_TEXT = (
    "Worried about your own thoughts or what you look at online? Viewing sexual images of"
    " under-18s harms real children every time. Confidential, non-judgemental help is"
    " available: call Stop It Now on 0808 1000 900."
)


def run(*, keep: bool) -> int:
    """Run the demo story; return the exit code (0 when every step did what it should)."""
    from scheduler.cli import app

    folder = Path(tempfile.mkdtemp(prefix="signpost-demo-"))
    config = folder / "config.toml"
    config.write_text(DEMO_CONFIG, encoding="utf-8")
    saved_actor = os.environ.get("SIGNPOST_ACTOR")

    def signpost(actor: str, *args: str, expect: int = 0) -> None:
        message(f"\n[{actor}] $ signpost {' '.join(_quote(a) for a in args)}")
        os.environ["SIGNPOST_ACTOR"] = actor
        code = app(["--config", str(config), *args], prog_name="signpost", standalone_mode=False)
        if (code or 0) != expect:
            raise _DemoFailed(
                f"'signpost {args[0]} {args[1] if len(args) > 1 else ''}' exited"
                f" {code or 0}, expected {expect}"
            )

    try:
        message(f"Signpost demo in {folder}")
        signpost("carol", "init")
        signpost(
            "carol",
            "campaign",
            "add",
            "stop-it-now",
            "--name",
            "Stop It Now - West Yorkshire",
            "--tz",
            "Europe/London",
            "--must-include",
            "0808 1000 900|stopitnow.org.uk",
            "--forbid",
            "child porn",
            "--forbid",
            "kiddie porn",
            "--link-domain",
            "stopitnow.org.uk",
        )
        signpost(
            "alice",
            "post",
            "add",
            "--campaign",
            "stop-it-now",
            "--text",
            POST_TEXT,
            "--link",
            "https://www.stopitnow.org.uk/",
            "--variant",
            "bluesky=Worried about what you look at online? Confidential help:"
            " Stop It Now, 0808 1000 900.",
        )
        signpost("alice", "post", "check", "1")
        signpost("alice", "post", "submit", "1")
        message(
            "\nFour-eyes: alice wrote the post (and is no approver), so she may not approve it."
        )
        signpost("alice", "post", "approve", "1", expect=3)
        signpost("bob", "post", "approve", "1", "--comment", "Wording agreed with the charity")
        signpost("bob", "audit", "log", "--post", "1")
        signpost("bob", "audit", "verify")
    except _DemoFailed as exc:
        message(f"demo failed: {exc}")
        return 1
    finally:
        if saved_actor is None:
            os.environ.pop("SIGNPOST_ACTOR", None)
        else:
            os.environ["SIGNPOST_ACTOR"] = saved_actor
        if keep:
            message(
                f"\nThe demo workspace is kept in {folder}: try"
                f" 'signpost --config {config} post list'"
            )
        else:
            shutil.rmtree(folder, ignore_errors=True)
    message(
        "\nDemo complete: a post went from draft to approved by a second person, and the"
        " audit log proves who did what."
    )
    return 0


class _DemoFailed(Exception):
    """A demo step did not end as the story says it should."""


def _quote(arg: str) -> str:
    return f'"{arg}"' if (" " in arg or not arg) else arg
