"""Config files written by code: the demo, the tests and the benchmarks build theirs here.

Each used to carry its own copy of a TOML template, and the copies drifted whenever a key
changed. A :class:`ConfigFile` holds the tables as data and writes them with tomli-w, so a
value holding a quote or a backslash (a Windows path, a password-like string) cannot break
the file, and a new key is added in one place. It writes only what it is given: the
defaults of every key stay where they are documented, in scheduler/config.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import tomli_w

#: who writes and who approves, in the demo and most tests: four eyes need two people
TEAM: dict[str, list[str]] = {"alice": ["author"], "bob": ["approver"]}


@dataclass(frozen=True)
class ConfigFile:
    """The tables of one ``config.toml``; :meth:`write` puts it on disk."""

    database_url: str
    users: dict[str, list[str]] = field(default_factory=lambda: dict(TEAM))
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    daemon: dict[str, Any] = field(default_factory=dict)
    approval: dict[str, Any] = field(default_factory=lambda: {"required": 1, "roles": ["approver"]})
    #: lets one terminal act as alice, then bob (SIGNPOST_ACTOR), as the demo and tests do
    actor_override: bool = True
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)  # [notify], [defaults] ...

    def with_channel(self, name: str, channel_type: str, **options: Any) -> ConfigFile:
        """The same config with one more channel (``[channels.NAME]``)."""
        return replace(self, channels={**self.channels, name: {"type": channel_type, **options}})

    def with_daemon(self, **keys: Any) -> ConfigFile:
        """The same config with these ``[daemon]`` keys set (others kept)."""
        return replace(self, daemon={**self.daemon, **keys})

    def with_table(self, name: str, **keys: Any) -> ConfigFile:
        """The same config with these keys in table ``[NAME]`` (others kept)."""
        return replace(self, tables={**self.tables, name: {**self.tables.get(name, {}), **keys}})

    def data(self) -> dict[str, Any]:
        """The whole file as TOML data, tables in the order DESIGN §6 lists them."""
        data: dict[str, Any] = {"database": {"url": self.database_url}}
        if self.daemon:
            data["daemon"] = dict(self.daemon)
        data["security"] = {"allow_actor_override": self.actor_override}
        data["approval"] = dict(self.approval)
        data["users"] = {name: {"roles": list(roles)} for name, roles in self.users.items()}
        if self.channels:
            data["channels"] = {name: dict(table) for name, table in self.channels.items()}
        for name, table in self.tables.items():
            data[name] = dict(table)
        return data

    def text(self) -> str:
        return tomli_w.dumps(self.data())

    def write(self, path: Path) -> Path:
        """Write the file (its folder must exist); returns ``path``."""
        path.write_text(self.text(), encoding="utf-8")
        return path
