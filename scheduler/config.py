"""Config file (TOML) → validated, immutable settings (DESIGN §7).

Every mistake is reported as one line that names the file and the key and says what was
expected, because a comms officer editing ``config.toml`` by hand should not need to read a
traceback. Relative paths are resolved against the config file's folder.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from channels.registry import PATH_KEYS, TYPES, known_keys
from posts.errors import ConfigError
from posts.notices import EVENTS, NotifyPolicy
from posts.policy import ApprovalPolicy, is_time_zone
from scheduler.webconfig import WebSettings, read_web

BUILT_IN_ROLES = ("admin", "approver", "author")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_INT_CHANNEL_KEYS = frozenset({"port", "max_characters", "max_length"})


@dataclass(frozen=True)
class DaemonSettings:
    """``[daemon]``: how the daemon syncs, claims and retries."""

    sync_interval: float = 2.0
    grace: timedelta = timedelta(minutes=15)
    health: str = "127.0.0.1:9464"
    lease: timedelta = timedelta(seconds=60)
    max_attempts: int = 8
    retry_base: timedelta = timedelta(seconds=30)
    #: every request of one send together; at most half the lease (default: 40 % of it)
    send_deadline: timedelta = timedelta(seconds=24)


@dataclass(frozen=True)
class ChannelSettings:
    """One ``[channels.NAME]`` table: its type and its other keys as given."""

    name: str
    type: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MediaSettings:
    """``[media]``: a folder a web server publishes, for networks that fetch images by URL
    (Instagram, Threads: DESIGN §10)."""

    public_dir: Path
    public_url: str


@dataclass(frozen=True)
class Settings:
    """Everything read from one config file."""

    path: Path
    database_url: str
    daemon: DaemonSettings = field(default_factory=DaemonSettings)
    approval: ApprovalPolicy = field(default_factory=ApprovalPolicy)
    allow_actor_override: bool = False
    default_tz: str = "Europe/London"
    users: dict[str, tuple[str, ...]] = field(default_factory=dict)
    channels: dict[str, ChannelSettings] = field(default_factory=dict)
    notify: NotifyPolicy = field(default_factory=NotifyPolicy)
    web: WebSettings = field(default_factory=WebSettings)
    media: MediaSettings | None = None

    def roles_of(self, user: str) -> tuple[str, ...] | None:
        """The user's roles, or None for a user the config does not know."""
        return self.users.get(user)

    def channel_types(self) -> dict[str, str]:
        """Channel name → channel type, for the content rules."""
        return {name: ch.type for name, ch in self.channels.items()}


def _seconds(delta: timedelta) -> str:
    """A duration as config writes it, e.g. "24s"."""
    return f"{delta.total_seconds():g}s"


def parse_duration(text: str) -> timedelta:
    """Read "90s", "15m", "2h", "1d" or a sum such as "1h30m"; ValueError otherwise."""
    text = text.strip()
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(text)
    return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))


def load(path: Path) -> Settings:
    """Read and validate the config file at ``path``."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return _Reader(path).settings(raw)


class _Reader:
    """Validates one parsed TOML document, naming ``path`` and the key in every error."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, expected: str, got: Any = None) -> ConfigError:
        shown = f", got {got!r}" if got is not None else ""
        return ConfigError(f"{self.path}: {key}: expected {expected}{shown}")

    def table(self, raw: dict[str, Any], name: str, allowed: set[str] | frozenset[str]) -> dict:
        value = raw.get(name, {})
        if not isinstance(value, dict):
            raise self.fail(name, "a table")
        for key in value:
            if key not in allowed:
                raise ConfigError(
                    f"{self.path}: unknown key '{key}' in [{name}]"
                    f" (known: {', '.join(sorted(allowed))})"
                )
        return value

    def typed(self, value: Any, key: str, kind: type | tuple[type, ...], expected: str) -> Any:
        if isinstance(value, bool) and kind is not bool:
            raise self.fail(key, expected, value)
        if not isinstance(value, kind):
            raise self.fail(key, expected, value)
        return value

    def duration(self, value: Any, key: str) -> timedelta:
        expected = 'a duration such as "90s", "15m" or "2h"'
        self.typed(value, key, str, expected)
        try:
            parsed = parse_duration(value)
        except ValueError:
            raise self.fail(key, expected, value) from None
        if parsed <= timedelta(0):
            raise self.fail(key, "a duration above zero", value)
        return parsed

    def positive_int(self, value: Any, key: str) -> int:
        self.typed(value, key, int, "a whole number of at least 1")
        if value < 1:
            raise self.fail(key, "a whole number of at least 1", value)
        return value

    def settings(self, raw: dict[str, Any]) -> Settings:
        top = {
            "database",
            "daemon",
            "approval",
            "security",
            "defaults",
            "users",
            "channels",
            "notify",
            "web",
            "media",
        }
        for key in raw:
            if key not in top:
                raise ConfigError(
                    f"{self.path}: unknown key '{key}' (known: {', '.join(sorted(top))})"
                )
        approval = self.approval(raw)
        media = self.media(raw)
        channels = self.channels(raw, media)
        security = self.table(raw, "security", {"allow_actor_override"})
        defaults = self.table(raw, "defaults", {"tz"})
        tz = self.typed(defaults.get("tz", "Europe/London"), "[defaults] tz", str, "a time zone")
        self.time_zone(tz, "[defaults] tz")
        web = read_web(self, raw)
        return Settings(
            path=self.path,
            database_url=self.database(raw),
            daemon=self.daemon(raw),
            approval=approval,
            allow_actor_override=self.typed(
                security.get("allow_actor_override", False),
                "[security] allow_actor_override",
                bool,
                "true or false",
            ),
            default_tz=tz,
            users=self.users(raw, approval),
            channels=channels,
            notify=self.notify(raw, channels, web.base_url),
            web=web,
            media=media,
        )

    def media(self, raw: dict[str, Any]) -> MediaSettings | None:
        table = self.table(raw, "media", {"public_dir", "public_url"})
        if not table:
            return None
        for key in ("public_dir", "public_url"):
            if not table.get(key):
                raise self.fail(f"[media] {key}", "a value (public_dir and public_url go together)")
            self.typed(table[key], f"[media] {key}", str, "a string")
        url = table["public_url"]
        if not re.match(r"https?://[^/\s]+", url):
            raise self.fail("[media] public_url", "the folder's public http(s) URL", url)
        folder = Path(table["public_dir"])
        return MediaSettings(
            public_dir=folder if folder.is_absolute() else self.path.parent / folder,
            public_url=url,
        )

    def notify(
        self, raw: dict[str, Any], channels: dict[str, ChannelSettings], base_url: str | None
    ) -> NotifyPolicy:
        n = self.table(raw, "notify", {"channel", "events"})
        if not n:
            return NotifyPolicy(base_url=base_url)
        channel = self.typed(n.get("channel"), "[notify] channel", str, "a channel name")
        if channel not in channels:
            raise self.fail(
                "[notify] channel",
                f"one of the configured channels ({', '.join(sorted(channels)) or 'none'})",
                channel,
            )
        events = n.get("events", list(EVENTS))
        if not isinstance(events, list) or any(e not in EVENTS for e in events):
            raise self.fail("[notify] events", f"a list of {', '.join(EVENTS)}", events)
        return NotifyPolicy(channel=channel, events=frozenset(events), base_url=base_url)

    def time_zone(self, name: str, key: str) -> None:
        if not is_time_zone(name):
            raise self.fail(key, 'an IANA time zone such as "Europe/London"', name)

    def database(self, raw: dict[str, Any]) -> str:
        db = self.table(raw, "database", {"url"})
        url = self.typed(
            db.get("url", "sqlite:///signpost.db"), "[database] url", str, "a database URL"
        )
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            file = Path(url.removeprefix("sqlite:///"))
            if not file.is_absolute():
                file = self.path.parent / file
            return f"sqlite:///{file}"
        if not url.startswith(("sqlite:", "postgresql")):
            raise self.fail(
                "[database] url",
                'a URL such as "sqlite:///signpost.db" or "postgresql+psycopg://user@host/db"',
                url,
            )
        return url

    def daemon(self, raw: dict[str, Any]) -> DaemonSettings:
        allowed = {
            "sync_interval",
            "grace",
            "health",
            "lease",
            "max_attempts",
            "retry_base",
            "send_deadline",
        }
        d = self.table(raw, "daemon", allowed)
        base = DaemonSettings()
        sync = d.get("sync_interval", base.sync_interval)
        self.typed(sync, "[daemon] sync_interval", (int, float), "a number of seconds above zero")
        if sync <= 0:
            raise self.fail("[daemon] sync_interval", "a number of seconds above zero", sync)
        health = self.typed(
            d.get("health", base.health),
            "[daemon] health",
            str,
            '"host:port" such as "127.0.0.1:9464"',
        )
        if not re.fullmatch(r"[^:\s]+:\d{1,5}", health):
            raise self.fail("[daemon] health", '"host:port" such as "127.0.0.1:9464"', health)
        lease = self.duration(d["lease"], "[daemon] lease") if "lease" in d else base.lease
        deadline = (
            self.duration(d["send_deadline"], "[daemon] send_deadline")
            if "send_deadline" in d
            else lease * 0.4
        )
        if lease < 2 * deadline:
            raise self.fail(
                "[daemon] lease",
                f"at least twice [daemon] send_deadline ({_seconds(deadline)}), so a lease"
                " outlives every send",
                d.get("lease", _seconds(lease)),
            )
        return DaemonSettings(
            sync_interval=float(sync),
            grace=self.duration(d["grace"], "[daemon] grace") if "grace" in d else base.grace,
            health=health,
            lease=lease,
            send_deadline=deadline,
            max_attempts=self.positive_int(
                d.get("max_attempts", base.max_attempts), "[daemon] max_attempts"
            ),
            retry_base=self.duration(d["retry_base"], "[daemon] retry_base")
            if "retry_base" in d
            else base.retry_base,
        )

    def approval(self, raw: dict[str, Any]) -> ApprovalPolicy:
        a = self.table(raw, "approval", {"required", "roles", "four_eyes"})
        roles = a.get("roles", ["approver"])
        if not isinstance(roles, list) or not roles or not all(isinstance(r, str) for r in roles):
            raise self.fail("[approval] roles", "a non-empty list of role names", roles)
        return ApprovalPolicy(
            required=self.positive_int(a.get("required", 1), "[approval] required"),
            roles=tuple(roles),
            four_eyes=self.typed(
                a.get("four_eyes", True), "[approval] four_eyes", bool, "true or false"
            ),
        )

    def users(self, raw: dict[str, Any], approval: ApprovalPolicy) -> dict[str, tuple[str, ...]]:
        users = raw.get("users", {})
        if not isinstance(users, dict):
            raise self.fail("users", "a table of [users.NAME] tables")
        known_roles = set(BUILT_IN_ROLES) | set(approval.roles)
        result = {}
        for name, table in users.items():
            key = f"[users.{name}]"
            if not isinstance(table, dict):
                raise self.fail(key, "a table with roles = [...]")
            for k in table:
                if k != "roles":
                    raise ConfigError(f"{self.path}: unknown key '{k}' in {key} (known: roles)")
            roles = table.get("roles", [])
            if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
                raise self.fail(f"{key} roles", "a list of role names", roles)
            for role in roles:
                if role not in known_roles:
                    raise self.fail(
                        f"{key} roles", f"roles from {', '.join(sorted(known_roles))}", role
                    )
            result[name] = tuple(roles)
        return result

    def channels(
        self, raw: dict[str, Any], media: MediaSettings | None = None
    ) -> dict[str, ChannelSettings]:
        """Every ``[channels.NAME]``; a type that fetches images by URL also gets ``[media]``'s
        ``public_dir`` and ``public_url`` among its options (the adapter copies images
        there; ``post check`` refuses an image for it without them)."""
        channels = raw.get("channels", {})
        if not isinstance(channels, dict):
            raise self.fail("channels", "a table of [channels.NAME] tables")
        result = {}
        for name, table in channels.items():
            key = f"[channels.{name}]"
            if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name):
                raise self.fail(key, "a channel name of lower-case letters, digits, - and _")
            if not isinstance(table, dict):
                raise self.fail(key, "a table")
            kind = table.get("type")
            if kind not in TYPES:
                raise self.fail(f"{key} type", f"one of {', '.join(TYPES)}", kind)
            allowed = known_keys(kind)
            for k, v in table.items():
                if k not in allowed:
                    raise ConfigError(
                        f"{self.path}: unknown key '{k}' in {key} for type {kind}"
                        f" (known: {', '.join(sorted(allowed))})"
                    )
                if k in _INT_CHANNEL_KEYS:
                    self.positive_int(v, f"{key} {k}")
                elif k == "to":
                    if not (
                        isinstance(v, str)
                        or (isinstance(v, list) and all(isinstance(x, str) for x in v))
                    ):
                        raise self.fail(f"{key} to", "an address or a list of addresses", v)
                else:
                    self.typed(v, f"{key} {k}", str, "a string")
            options = {
                k: str(self.path.parent / v) if k in PATH_KEYS and not Path(v).is_absolute() else v
                for k, v in table.items()
                if k != "type"
            }
            if media is not None and TYPES[kind].public_media:
                options.update(public_dir=str(media.public_dir), public_url=media.public_url)
            result[name] = ChannelSettings(name=name, type=kind, options=options)
        return result


def locate(explicit: Path | None) -> Path:
    """The config file to use: ``--config``, else ``$SIGNPOST_CONFIG``, else ./config.toml."""
    if explicit is not None:
        return explicit.absolute()
    env = os.environ.get("SIGNPOST_CONFIG")
    if env:
        return Path(env).absolute()
    return Path("config.toml").absolute()
