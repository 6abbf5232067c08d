"""What every command needs: the settings, the database, the clock and who is acting.

Built lazily from the ``--config`` option so that ``signpost --help`` never imports the
database layer.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from posts.errors import PolicyRefused
from posts.policy import Actor, ApprovalPolicy
from posts.store import Store
from scheduler.clock import Clock, SystemClock
from scheduler.config import Settings, load, locate

if TYPE_CHECKING:
    import httpx

    from channels.base import Channel
    from scheduler.delivery import Engine


@dataclass
class Workspace:
    """Settings, store and clock for one command."""

    settings: Settings
    store: Store
    clock: Clock = field(default_factory=SystemClock)

    @classmethod
    def open(cls, config: Path | None, clock: Clock | None = None) -> Workspace:
        """Load the config and connect to its database (not yet checking the schema)."""
        settings = load(locate(config))
        return cls(
            settings=settings, store=Store(settings.database_url), clock=clock or SystemClock()
        )

    def actor(self) -> Actor:
        """The acting user: the OS login, or $SIGNPOST_ACTOR where config allows it."""
        override = os.environ.get("SIGNPOST_ACTOR")
        if override and not self.settings.allow_actor_override:
            raise PolicyRefused(
                "SIGNPOST_ACTOR is set but [security] allow_actor_override is false in"
                f" {self.settings.path}: unset it to act as yourself"
            )
        name = override or getpass.getuser()
        return Actor(name=name, roles=self.settings.roles_of(name))

    @property
    def policy(self) -> ApprovalPolicy:
        """The config's approval policy (campaigns may override it)."""
        return self.settings.approval


def open_channels(settings: Settings, clock: Clock, client: httpx.Client) -> dict[str, Channel]:
    """An adapter for every configured channel that has one (others cannot be scheduled)."""
    from channels.registry import build, can_publish

    return {
        name: build(name, ch.type, dict(ch.options), client=client, now=clock.now)
        for name, ch in settings.channels.items()
        if can_publish(ch.type)
    }


def make_engine(ws: Workspace, client: httpx.Client, owner: str) -> Engine:
    """The delivery engine for this workspace's database, channels and clock."""
    from scheduler.delivery import Engine

    return Engine(
        store=ws.store,
        settings=ws.settings.daemon,
        clock=ws.clock,
        channels=open_channels(ws.settings, ws.clock, client),
        owner=owner,
        notify=ws.settings.notify,
    )
