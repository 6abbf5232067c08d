"""``signpost demo``: the whole product in one command, on a throwaway workspace.

It writes its own config (alice writes, bob approves; the actor override lets one terminal
play both) into a temporary folder, starts a loopback webhook receiver that verifies every
signature, drives the real CLI in-process (printing each command as a user would type it),
then runs the real daemon until every delivery has ended, with a progress bar.

The ``demo`` command hands this module the CLI's app to drive (:func:`run`), so the demo
never imports ``scheduler.cli``: the CLI imports the demo, not the other way round.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from scheduler.configfile import TEAM, ConfigFile
from scheduler.output import message

SECRET_ENV = "SIGNPOST_DEMO_WEBHOOK_SECRET"
DEADLINE_S = 25.0
#: the demo's cast: alice writes, bob approves, carol sets things up
CAST = {**TEAM, "carol": ["author", "approver", "admin"]}

HELP_POST = (
    "Worried about your own thoughts or what you look at online? Viewing sexual images of"
    " under-18s harms real children every time. Confidential, non-judgemental help is"
    " available: call Stop It Now on 0808 1000 900."
)
CHAT_POST = (
    "Live web chat tonight, 18:00-19:00: ask the Stop It Now team anything, anonymously."
    " Can't make it? The helpline is confidential: 0808 1000 900."
)


class Receiver:
    """A loopback webhook endpoint that verifies signatures and dedupes on webhook-id."""

    def __init__(self, secret: str) -> None:
        from standardwebhooks import Webhook

        self.verifier = Webhook(secret)
        self.events: dict[str, Any] = {}
        self.rejected = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    event = receiver.verifier.verify(body, dict(self.headers))
                except Exception:  # noqa: BLE001 - any verification failure is a 401 here
                    receiver.rejected += 1
                    self.send_response(401)
                else:
                    receiver.events.setdefault(self.headers["webhook-id"], event)
                    self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/signpost"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def demo_config(hook: str) -> ConfigFile:
    """The demo's config: its database in the folder, a signed webhook to ``hook`` and an
    Atom feed, a daemon that looks for work five times a second."""
    return (
        ConfigFile("sqlite:///signpost.db", users=CAST)
        .with_daemon(sync_interval=0.2, health="127.0.0.1:0")
        .with_channel("newsroom", "webhook", url=hook, token_env=SECRET_ENV)
        .with_channel(
            "website",
            "feed",
            path="public/stop-it-now.atom",
            feed_id="tag:signpost.example,2026:stop-it-now",
            title="Stop It Now - West Yorkshire",
            self_url="https://www.example.org/stop-it-now.atom",
            author="West Yorkshire Police and the Lucy Faithfull Foundation",
        )
    )


def run(cli: Callable[..., Any], *, keep: bool) -> int:
    """Run the demo story; return the exit code (0 when every step did what it should).

    ``cli`` is the ``signpost`` Typer app, called in-process as ``cli(args, ...)``.
    """
    folder = Path(tempfile.mkdtemp(prefix="signpost-demo-"))
    (folder / "public").mkdir()
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    saved = {k: os.environ.get(k) for k in ("SIGNPOST_ACTOR", SECRET_ENV)}
    os.environ[SECRET_ENV] = secret
    receiver = Receiver(secret)
    config = demo_config(receiver.url).write(folder / "config.toml")
    signpost = _Signpost(cli, config)
    started = time.monotonic()
    try:
        _story(signpost)
        _publish(config)
        _report(signpost, folder, receiver, time.monotonic() - started, keep=keep)
    except _DemoFailed as exc:
        message(f"demo failed: {exc}")
        return 1
    finally:
        receiver.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if keep:
            message(
                f"\nThe demo workspace is kept in {folder}: try"
                f" 'signpost --config {config} deliveries list'"
            )
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


@dataclass(frozen=True)
class _Signpost:
    """Runs one ``signpost`` command in-process as ``actor``, as a user would type it."""

    cli: Callable[..., Any]
    config: Path

    def __call__(self, actor: str, *args: str, expect: int = 0, quiet: bool = False) -> None:
        if not quiet:
            message(f"\n[{actor}] $ signpost {' '.join(_quote(a) for a in args)}")
        os.environ["SIGNPOST_ACTOR"] = actor
        code = self.cli(
            ["--config", str(self.config), *args], prog_name="signpost", standalone_mode=False
        )
        if (code or 0) != expect:
            raise _DemoFailed(
                f"'signpost {' '.join(args[:2])}' exited {code or 0}, expected {expect}"
            )


def _story(signpost: _Signpost) -> None:
    message(f"Signpost demo in {signpost.config.parent}")
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
    for text in (HELP_POST, CHAT_POST):
        signpost(
            "alice",
            "post",
            "add",
            "--campaign",
            "stop-it-now",
            "--channels",
            "newsroom,website",
            "--text",
            text,
            "--link",
            "https://www.stopitnow.org.uk/",
        )
    for post in ("1", "2"):
        signpost("alice", "post", "submit", post)
    message("\nThe approver sees exactly what each channel will receive, tagged link included.")
    signpost("bob", "post", "preview", "1")
    message("\nFour-eyes: alice wrote the posts (and is no approver), so she may not approve them.")
    signpost("alice", "post", "approve", "1", "--revision", "1", expect=3)
    signpost(
        "bob",
        "post",
        "approve",
        "1",
        "--revision",
        "1",
        "--comment",
        "Wording agreed with the charity",
    )
    signpost("alice", "post", "schedule", "1", "--at", "+3s")
    message("\nA slip: scheduling the same post again would send it twice, so it is refused.")
    signpost("alice", "post", "schedule", "1", "--at", "+4s", expect=1)
    message("\nScheduled before approval: the web chat post is held until bob signs it off.")
    signpost("alice", "post", "schedule", "2", "--at", "+5s", "--expires", "+1h")
    signpost("bob", "post", "approve", "2", "--revision", "1")


def _publish(config: Path) -> None:
    """Run the real daemon until every delivery has ended, showing progress."""
    import httpx
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from posts.status import delivery_progress
    from scheduler.daemon import Daemon, daemon_id
    from scheduler.workspace import Workspace, make_engine

    message("\n$ signpost daemon")
    ws = Workspace.open(config)
    with httpx.Client(timeout=10) as client:
        daemon = Daemon(
            engine=make_engine(ws, client, daemon_id()),
            sync_interval=0.2,
            health=ws.settings.daemon.health,
        )
        thread = threading.Thread(target=daemon.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + DEADLINE_S
        try:
            with Progress(
                TextColumn("publishing"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} deliveries"),
                TimeElapsedColumn(),
                transient=False,
            ) as progress:
                task = progress.add_task("publish", total=None)
                while time.monotonic() < deadline:
                    with ws.store.read() as session:
                        ended, total = delivery_progress(session)
                    progress.update(task, total=total, completed=ended)
                    if total and ended == total:
                        break
                    if not thread.is_alive():
                        raise _DemoFailed("the daemon stopped unexpectedly")
                    time.sleep(0.1)
        finally:
            daemon.stop()
            thread.join(timeout=10)
            ws.store.close()
    if time.monotonic() >= deadline:
        raise _DemoFailed(f"not every delivery ended within {DEADLINE_S:.0f} s")


def _report(
    signpost: _Signpost, folder: Path, receiver: Receiver, elapsed: float, *, keep: bool
) -> None:
    signpost("bob", "deliveries", "list")
    feed = folder / "public" / "stop-it-now.atom"
    where = (
        f"is at {feed}"
        if keep
        else "is in the demo's workspace, deleted when it ends ('signpost demo --keep' keeps it)"
    )
    message(f"\nThe Atom feed ({feed.stat().st_size} bytes) {where}.")
    message(
        f"The webhook receiver verified {len(receiver.events)} signed event(s)"
        f" and rejected {receiver.rejected}:"
    )
    for key, event in receiver.events.items():
        message(f"  {key}: post {event['data']['post']}: {event['data']['text'][:60]}...")
    signpost("bob", "audit", "verify")
    if receiver.rejected or len(receiver.events) != 2:
        raise _DemoFailed(f"expected 2 verified webhook events, got {len(receiver.events)}")
    message(
        f"\nDemo complete in {elapsed:.1f} s: two posts approved by a second person went out"
        " once each, on time, to a webhook and an Atom feed, and the audit log proves it."
    )
    _review_page(signpost.config, keep=keep)


def _review_page(config: Path, *, keep: bool) -> None:
    """Where bob could have approved from a browser instead (the demo starts no server)."""
    from scheduler.webconfig import WebSettings

    web = WebSettings()  # the demo's config has no [web] table: the defaults
    run = (
        f"signpost --config {config} web"
        if keep
        else "'signpost demo --keep', then 'signpost --config FOLDER/config.toml web'"
    )
    message(
        f"\nApprovers can do the same from a browser: the review page would be at"
        f" http://{web.host}:{web.port}/queue (run {run}; sign in after"
        " 'signpost users set-password bob'). The demo opens nothing."
    )


class _DemoFailed(Exception):
    """A demo step did not end as the story says it should."""


def _quote(arg: str) -> str:
    return f'"{arg}"' if (" " in arg or not arg) else arg
