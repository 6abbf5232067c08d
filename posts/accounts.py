"""Password sign-in accounts for the web page (``[web] auth = "password"``, DESIGN §11).

Only an argon2id hash is stored (argon2-cffi's defaults); neither the password nor the hash
ever reaches the audit log, a message or an error. Who may sign in is still the config's
``[users]``: a stored password for a user no longer there signs no one in.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, select

from posts import audit
from posts.errors import PolicyRefused, UserError
from posts.models import Password
from posts.policy import Actor

MIN_LENGTH = 12

_hasher = PasswordHasher()
#: verified against when the user has no password, so that an unknown name takes as long
_DUMMY_HASH = _hasher.hash("signpost: no such user, no such password")


def set_password(
    session: Session,
    actor: Actor,
    now: datetime,
    *,
    user: str,
    password: str,
    known_users: Mapping[str, Any],
) -> None:
    """Store ``user``'s new password hash: a user sets their own, an admin anyone's."""
    if user != actor.name:
        actor.require(("admin",), f"set the password of user '{user}'")
    if user not in known_users:
        raise PolicyRefused(
            f"user '{user}' is not in the config's [users]: add them there before setting"
            " a password"
        )
    if len(password) < MIN_LENGTH:
        raise UserError(
            f"the password is {len(password)} characters long: it needs at least {MIN_LENGTH}"
        )
    digest = _hasher.hash(password)
    row = session.get(Password, user)
    replaced = row is not None
    if row is None:
        row = Password(user=user, hash=digest, updated=now)
    else:
        row.hash = digest
        row.updated = now
    session.add(row)
    session.flush()
    audit.record(
        session,
        now=now,
        actor=actor.name,
        action="user.set_password",
        subject=f"user:{user}",
        details={"replaced": replaced},
    )


def check_password(session: Session, user: str, password: str) -> bool:
    """Whether ``password`` is ``user``'s; as slow for an unknown user as for a wrong one."""
    row = session.get(Password, user)
    try:
        return _hasher.verify(row.hash if row else _DUMMY_HASH, password) and row is not None
    except (VerificationError, InvalidHashError):
        return False


def list_accounts(session: Session, users: Mapping[str, tuple[str, ...]]) -> list[dict[str, Any]]:
    """One row per configured user: roles, whether a password is set, and when."""
    stored = {row.user: row for row in session.exec(select(Password)).all()}
    rows = []
    for name in sorted(users):
        row = stored.get(name)
        rows.append(
            {
                "user": name,
                "roles": list(users[name]),
                "password": row is not None,
                "updated": row.updated.isoformat() if row else None,
            }
        )
    return rows
