"""The global configuration: document, signing and verification (docs/spec/globalconf.md).

The registry signs one versioned document (§2) in a DSSE envelope (§3); a gateway
verifies it against the keys it trusts (§4) and gets a :class:`VerifiedGlobalConf`,
a type that only :func:`verify_globalconf` produces (STYLE.md rule 2). Pure: no
sockets, files or clock reads; the time comes in as ``at=``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sild.core._globalconf_codec import (
    FORMAT,
    encode_document,
    encode_signing_key,
    parse_document,
    parse_signing_key,
)
from sild.core._globalconf_model import (
    CA_CERTIFICATE,
    CA_NAME,
    GATEWAY_ADDRESS,
    GROUP_DESCRIPTION,
    LEDGER_VALUE,
    MEMBER_NAME,
    PURPOSE_CODE,
    PURPOSE_TEXT,
    REVOKED_SERIAL,
    AddressRule,
    CaEntry,
    GatewayEntry,
    GlobalConf,
    GlobalGroupEntry,
    LedgerSettings,
    MemberEntry,
    PurposeEntry,
    RevokedCert,
    SigningKey,
    TextRule,
)
from sild.core.dsse import Envelope, Signature
from sild.crypto.keys import KeyType, key_id, public_key_from_raw, public_key_raw, sign, verify
from sild.errors import (
    GlobalConfError,
    GlobalConfExpired,
    GlobalConfRollback,
    GlobalConfSignatureError,
    InvalidRequest,
    SignatureError,
)

__all__ = [
    "CA_CERTIFICATE",
    "CA_NAME",
    "FORMAT",
    "GATEWAY_ADDRESS",
    "GROUP_DESCRIPTION",
    "LEDGER_VALUE",
    "MAX_CLOCK_SKEW",
    "MAX_DOCUMENT_BYTES",
    "MEMBER_NAME",
    "PAYLOAD_TYPE",
    "PURPOSE_CODE",
    "PURPOSE_TEXT",
    "REVOKED_SERIAL",
    "AddressRule",
    "CaEntry",
    "GatewayEntry",
    "GlobalConf",
    "GlobalGroupEntry",
    "LedgerSettings",
    "MemberEntry",
    "PurposeEntry",
    "RevokedCert",
    "SigningKey",
    "TextRule",
    "VerifiedGlobalConf",
    "encode_document",
    "encode_signing_key",
    "parse_document",
    "parse_signing_key",
    "sign_globalconf",
    "signing_key_of",
    "verify_globalconf",
]

PAYLOAD_TYPE = "application/vnd.sild.globalconf+json"
# A national instance (X-Road EE: ~3 000 members, ~5 000 subsystems, ~1 000 servers and
# their CA certificates) is a few MiB of JSON; 16 MiB leaves headroom while bounding what
# a hostile source can make every gateway download, hold and parse.
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
# §4 step (6): a document issued further in the future than this means a skewed clock.
MAX_CLOCK_SKEW = timedelta(seconds=60)

_MINT = object()  # only verify_globalconf holds this token


@dataclass(frozen=True, slots=True)
class VerifiedGlobalConf:
    """A global configuration that passed §4 steps 1-6; only verification makes one."""

    conf: GlobalConf
    raw: bytes = field(repr=False)
    key_ids: tuple[str, ...]
    _token: object = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._token is not _MINT:
            raise TypeError("VerifiedGlobalConf is only produced by verify_globalconf()")

    @property
    def trusted_keys(self) -> dict[str, SigningKey]:
        """The keys this document names for the *next* documents (§2 ``signing_keys``)."""
        return {k.key_id: k for k in self.conf.signing_keys}


def signing_key_of(private_key: Ed25519PrivateKey) -> SigningKey:
    """The :class:`SigningKey` entry (anchor or ``signing_keys``) for a private key."""
    public = private_key.public_key()
    return SigningKey(key_id(public), KeyType.ED25519.value, public_key_raw(public))


def sign_globalconf(conf: GlobalConf, keys: Sequence[Ed25519PrivateKey]) -> bytes:
    """The §3 wire form: a DSSE envelope with one signature per key."""
    if not keys:
        raise ValueError("at least one signing key is needed")
    payload = encode_document(conf)
    unsigned = Envelope(PAYLOAD_TYPE, payload, ())
    signed = unsigned.signed_bytes()
    sigs = tuple(Signature(key_id(k.public_key()), sign(key=k, data=signed)) for k in keys)
    return Envelope(PAYLOAD_TYPE, payload, sigs).encode()


def _require_canonical_base64(raw: bytes, env: Envelope) -> None:
    """Refuse base64 with non-zero padding bits: two spellings of one signed envelope
    would let a flipped byte pass unnoticed (DSSE leaves this to the implementation)."""
    obj = json.loads(raw)  # already parsed strictly by Envelope.parse
    if obj["payload"] != base64.b64encode(env.payload).decode():
        raise GlobalConfError("globalconf envelope: payload is not canonical base64")
    for entry, sig in zip(obj["signatures"], env.signatures, strict=True):
        if entry["sig"] != base64.b64encode(sig.sig).decode():
            raise GlobalConfError("globalconf envelope: signature is not canonical base64")


def verify_globalconf(
    raw: bytes,
    *,
    trusted_keys: Mapping[str, SigningKey],
    instance: str,
    at: datetime,
    last: tuple[int, datetime] | None,
) -> VerifiedGlobalConf:
    """docs/spec/globalconf.md §4 steps 1-6; step 7 (persist) is the caller's.

    ``trusted_keys`` are the anchor's keys at first, then the ``signing_keys`` of the
    last accepted document; ``last`` is that document's ``(version, issued_at)``.
    """
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise GlobalConfError(f"globalconf is larger than {MAX_DOCUMENT_BYTES} bytes")
    # (1) parse the envelope; payloadType must be the global configuration's
    try:
        env = Envelope.parse(raw, what="globalconf envelope")
    except InvalidRequest as e:
        raise GlobalConfError(str(e)) from e
    if env.payload_type != PAYLOAD_TYPE:
        raise GlobalConfError(f"globalconf envelope: payloadType {env.payload_type[:80]!r}")
    _require_canonical_base64(raw, env)

    # (2) at least one signature by a trusted key id must verify; unknown ids are ignored
    signed = env.signed_bytes()
    good: list[str] = []
    bad: list[str] = []
    for s in env.signatures:
        key = trusted_keys.get(s.keyid)
        if key is None or s.keyid in good:
            continue
        try:
            public = public_key_from_raw(KeyType(key.algorithm), key.public_key)
            verify(public_key=public, signature=s.sig, data=signed)
        except (SignatureError, InvalidRequest, ValueError):
            bad.append(s.keyid)
            continue
        good.append(s.keyid)
    if not good:
        if bad:
            raise GlobalConfSignatureError(f"globalconf: bad signature by key {bad[0]}")
        unknown = ", ".join(s.keyid[:32] for s in env.signatures[:3])
        raise GlobalConfSignatureError(f"globalconf: signed by unknown key {unknown}")

    # (3) the payload is the canonical §2 document, all fields present and well-typed
    conf = parse_document(env.payload)

    # (4) the instance is the anchor's
    if conf.instance != instance:
        raise GlobalConfError(f"globalconf is for instance {conf.instance!r}, not {instance!r}")

    # (5) no rollback to a lower version, no freeze on an older issue of the same version
    if last is not None:
        last_version, last_issued = last
        if conf.version < last_version:
            raise GlobalConfRollback(
                f"globalconf version {conf.version} is older than accepted {last_version}"
            )
        if conf.version == last_version and conf.issued_at < last_issued:
            raise GlobalConfRollback(
                f"globalconf version {conf.version} re-issued earlier than the copy accepted"
            )

    # (6) not expired, not issued in the future beyond the allowed clock skew
    if at >= conf.expires_at:
        raise GlobalConfExpired(
            f"globalconf version {conf.version} expired at {conf.expires_at:%Y-%m-%dT%H:%M:%SZ}"
        )
    if conf.issued_at > at + MAX_CLOCK_SKEW:
        raise GlobalConfError(
            f"globalconf issued in the future ({conf.issued_at:%Y-%m-%dT%H:%M:%SZ});"
            " check this machine's clock"
        )
    return VerifiedGlobalConf(conf, raw, tuple(good), _MINT)
