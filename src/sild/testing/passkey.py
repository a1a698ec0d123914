"""A software WebAuthn authenticator and client for tests (docs/spec/identity.md §7).

It answers creation and request options the way a browser's ``credential.toJSON()``
does (WebAuthn Level 3 §5.1 ``RegistrationResponseJSON`` / ``AuthenticationResponseJSON``)
with attestation ``none`` and an ES256 key, so the provider's passkey endpoints can be
driven without a browser — and driven wrongly on purpose: another origin, a counter set
back, a damaged signature. The real browser test (Chromium's virtual authenticator)
checks that real clients produce what this one does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["SoftAuthenticator", "b64url"]

_UP, _UV, _BE, _BS, _AT = 0x01, 0x04, 0x08, 0x10, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftAuthenticator:
    """One authenticator holding one discoverable credential once :meth:`create` ran."""

    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    credential_id: bytes = field(default_factory=lambda: os.urandom(16))
    sign_count: int = 0
    user_handle: str | None = None
    user_verified: bool = True

    def _cose_key(self) -> bytes:
        nums = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: nums.x.to_bytes(32, "big"),
                            -3: nums.y.to_bytes(32, "big")})

    def _auth_data(self, rp_id: str, flags: int, attested: bytes = b"") -> bytes:
        if self.user_verified:
            flags |= _UV
        return (hashlib.sha256(rp_id.encode()).digest() + bytes([flags | _UP])
                + struct.pack(">I", self.sign_count) + attested)

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin,
                           "crossOrigin": False}).encode()

    def create(self, options: dict[str, Any], *, origin: str,
               rp_id: str | None = None) -> dict[str, Any]:
        """``navigator.credentials.create()`` then ``toJSON()``."""
        self.user_handle = options["user"]["id"]
        rp = rp_id or options["rp"]["id"]
        attested = (bytes(16) + struct.pack(">H", len(self.credential_id))
                    + self.credential_id + self._cose_key())
        auth_data = self._auth_data(rp, _AT, attested)
        att = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        cdata = self._client_data("webauthn.create", options["challenge"], origin)
        cid = b64url(self.credential_id)
        return {"id": cid, "rawId": cid, "type": "public-key",
                "authenticatorAttachment": "platform", "clientExtensionResults": {},
                "response": {"clientDataJSON": b64url(cdata),
                             "attestationObject": b64url(att), "transports": ["internal"]}}

    def get(self, options: dict[str, Any], *, origin: str, rp_id: str | None = None,
            advance: int = 1) -> dict[str, Any]:
        """``navigator.credentials.get()`` then ``toJSON()``; the counter moves by
        ``advance`` first (0 or less: a replayed or cloned authenticator)."""
        self.sign_count += advance
        auth_data = self._auth_data(rp_id or options["rpId"], 0)
        cdata = self._client_data("webauthn.get", options["challenge"], origin)
        sig = self.key.sign(auth_data + hashlib.sha256(cdata).digest(),
                            ec.ECDSA(hashes.SHA256()))
        cid = b64url(self.credential_id)
        return {"id": cid, "rawId": cid, "type": "public-key",
                "authenticatorAttachment": "platform", "clientExtensionResults": {},
                "response": {"clientDataJSON": b64url(cdata),
                             "authenticatorData": b64url(auth_data),
                             "signature": b64url(sig), "userHandle": self.user_handle}}

    @staticmethod
    def damage_signature(credential: dict[str, Any]) -> dict[str, Any]:
        """The same response with one bit of the signature's last byte flipped."""
        sig = bytearray(_unb64url(credential["response"]["signature"]))
        sig[-1] ^= 0x01
        out = json.loads(json.dumps(credential))
        out["response"]["signature"] = b64url(bytes(sig))
        return dict(out)
