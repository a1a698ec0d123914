"""The configuration client's cache directory (docs/spec/globalconf.md §4 step 7).

Two files: ``globalconf.json``, the raw envelope last accepted, and
``confclient-state.json``, what that acceptance taught us: the keys trusted for the
next document, the keys that verified the cached one, and the rollback floor
``(version, issued_at)``. Both are written through a temporary file, fsync and
rename, so a crash leaves the old file or the new one, never half of either.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sild.core.canonical import parse_json_object
from sild.core.globalconf import SigningKey, encode_signing_key, parse_signing_key
from sild.core.timefmt import format_rfc3339, parse_rfc3339
from sild.errors import InvalidRequest
from sild.files import atomic_write

__all__ = ["CONF_FILE", "STATE_FILE", "ClientState", "atomic_write", "encode_state", "parse_state"]

CONF_FILE = "globalconf.json"
STATE_FILE = "confclient-state.json"
STATE_FORMAT = "sild-confclient-state/1"


@dataclass(frozen=True, slots=True)
class ClientState:
    instance: str
    anchor_generated_at: datetime
    trusted_keys: tuple[SigningKey, ...]
    verified_by: tuple[SigningKey, ...]
    last_version: int
    last_issued_at: datetime


def encode_state(state: ClientState) -> bytes:
    obj = {
        "format": STATE_FORMAT,
        "instance": state.instance,
        "anchor_generated_at": format_rfc3339(state.anchor_generated_at),
        "trusted_keys": [encode_signing_key(k) for k in state.trusted_keys],
        "verified_by": [encode_signing_key(k) for k in state.verified_by],
        "last_version": state.last_version,
        "last_issued_at": format_rfc3339(state.last_issued_at),
    }
    return (json.dumps(obj, indent=2) + "\n").encode()


def _keys(obj: dict[str, object], name: str) -> tuple[SigningKey, ...]:
    keys = obj.get(name)
    if not isinstance(keys, list) or not keys:
        raise InvalidRequest(f"confclient state: {name} must be a non-empty list")
    return tuple(
        parse_signing_key(k, f"confclient state {name}[{i}]", InvalidRequest)
        for i, k in enumerate(keys)
    )


def parse_state(data: bytes) -> ClientState:
    """Parse the state file; :class:`InvalidRequest` if anything is off."""
    obj = parse_json_object(data, "confclient state")
    if obj.get("format") != STATE_FORMAT:
        raise InvalidRequest(f"confclient state: format is not {STATE_FORMAT!r}")
    instance, version = obj.get("instance"), obj.get("last_version")
    if not isinstance(instance, str) or isinstance(version, bool) or not isinstance(version, int):
        raise InvalidRequest("confclient state: bad instance or last_version")
    try:
        anchor_at = parse_rfc3339(obj.get("anchor_generated_at"))
        issued_at = parse_rfc3339(obj.get("last_issued_at"))
    except ValueError as e:
        raise InvalidRequest(f"confclient state: {e}") from e
    trusted, verified = _keys(obj, "trusted_keys"), _keys(obj, "verified_by")
    return ClientState(instance, anchor_at, trusted, verified, version, issued_at)

