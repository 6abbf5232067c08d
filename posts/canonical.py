"""Canonical JSON and hashing, shared by content hashes and the audit chain.

Both must give the same bytes for the same meaning forever, on any machine: keys sorted,
no insignificant white space, strings in Unicode NFC (so a visually identical text typed on
another keyboard hashes the same), UTF-8 output.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from typing import Any


def normalise(value: Any) -> Any:
    """Return ``value`` with every string (keys included) in NFC, recursively."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, dict):
        return {normalise(k): normalise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalise(v) for v in value]
    return value


def canonical_json(value: Any) -> bytes:
    """Serialise ``value`` to the one canonical byte string that is hashed."""
    return json.dumps(
        normalise(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()
