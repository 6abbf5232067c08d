"""Who is acting and what the approval policy asks (DESIGN §3, §5).

Shared by every rule module (campaigns, the post life cycle, deliveries) and by config.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from posts.errors import PolicyRefused
from posts.models import Campaign

WRITER_ROLES = ("author", "admin")


@dataclass(frozen=True)
class Actor:
    """Who is acting, with the roles config gives them (None: a user config does not know)."""

    name: str
    roles: tuple[str, ...] | None

    def require(self, allowed: Sequence[str], doing: str) -> None:
        """Refuse unless the actor is known and holds one of ``allowed``."""
        if self.roles is None:
            raise PolicyRefused(
                f"user '{self.name}' is not in the config's [users]: unknown users can read"
                f" but not {doing}"
            )
        if not set(self.roles) & set(allowed):
            raise PolicyRefused(
                f"user '{self.name}' may not {doing}: needs the role"
                f" {' or '.join(allowed)} (has: {', '.join(self.roles) or 'none'})"
            )


@dataclass(frozen=True)
class ApprovalPolicy:
    """How many approvals, from which roles, and whether four-eyes applies (DESIGN §3)."""

    required: int = 1
    roles: tuple[str, ...] = ("approver",)
    four_eyes: bool = True

    def for_campaign(self, campaign: Campaign) -> ApprovalPolicy:
        """This policy with the campaign's overrides applied."""
        return replace(
            self,
            required=campaign.approvals_required or self.required,
            roles=tuple(campaign.approver_roles or self.roles),
        )


def is_time_zone(name: str) -> bool:
    """Whether ``name`` is an IANA time zone ("Europe" is a folder of zones, not one)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True
