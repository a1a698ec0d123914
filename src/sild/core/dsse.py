"""DSSE envelopes (secure-systems-lab/dsse, protocol v1.0): signed payloads with a type.

The signature covers PAE(payloadType, payload)::

    PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body

where LEN is the ASCII decimal byte length. Signing the type as well as the body
means a signed registration request can never be replayed as a configuration
document. Sild uses DSSE for the global configuration and registration requests.
Wire form (JSON)::

    {"payloadType": "...", "payload": "<base64>",
     "signatures": [{"keyid": "...", "sig": "<base64>"}]}
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from sild.core.canonical import parse_json_object
from sild.errors import InvalidRequest

__all__ = ["Envelope", "Signature", "pae"]


def pae(payload_type: str, payload: bytes) -> bytes:
    """Pre-authentication encoding, DSSE protocol §"Signature definition"."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


@dataclass(frozen=True, slots=True)
class Signature:
    keyid: str
    sig: bytes


@dataclass(frozen=True, slots=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...]

    def signed_bytes(self) -> bytes:
        return pae(self.payload_type, self.payload)

    def encode(self) -> bytes:
        return json.dumps(
            {
                "payload": base64.b64encode(self.payload).decode(),
                "payloadType": self.payload_type,
                "signatures": [
                    {"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode()}
                    for s in self.signatures
                ],
            },
            separators=(",", ":"),
            sort_keys=True,
        ).encode()

    @classmethod
    def parse(cls, raw: bytes, *, what: str = "envelope", max_signatures: int = 16) -> Envelope:
        """Parse the JSON wire form; :class:`InvalidRequest` naming what is wrong."""
        obj = parse_json_object(raw, what)
        payload_type = obj.get("payloadType")
        payload_b64 = obj.get("payload")
        sigs = obj.get("signatures")
        if not isinstance(payload_type, str) or not payload_type:
            raise InvalidRequest(f"{what}: missing payloadType")
        if not isinstance(payload_b64, str):
            raise InvalidRequest(f"{what}: missing payload")
        if not isinstance(sigs, list) or not sigs:
            raise InvalidRequest(f"{what}: no signatures")
        if len(sigs) > max_signatures:
            raise InvalidRequest(f"{what}: more than {max_signatures} signatures")
        try:
            payload = base64.b64decode(payload_b64, validate=True)
        except (binascii.Error, ValueError) as e:
            raise InvalidRequest(f"{what}: payload is not valid base64") from e
        parsed: list[Signature] = []
        for s in sigs:
            if not isinstance(s, dict) or not isinstance(s.get("keyid"), str):
                raise InvalidRequest(f"{what}: malformed signature entry")
            sig_b64 = s.get("sig")
            if not isinstance(sig_b64, str):
                raise InvalidRequest(f"{what}: signature entry without sig")
            try:
                parsed.append(Signature(s["keyid"], base64.b64decode(sig_b64, validate=True)))
            except (binascii.Error, ValueError) as e:
                raise InvalidRequest(f"{what}: signature is not valid base64") from e
        return cls(payload_type, payload, tuple(parsed))
