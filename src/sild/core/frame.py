"""The binary frame that carries one signed message between gateways (docs/spec/exchange.md §2.3).

::

    "SILD" ‖ version (1 byte, 1) ‖ u32 len ‖ signed header ‖ u16 len ‖ signature
           ‖ u16 len ‖ signer certificate (DER) ‖ body (the rest)

Lengths are big-endian. Binary framing instead of base64 HTTP headers: the envelope
is kilobytes, and base64-encoding it into header fields cost both gateways time on
every request (encoding, header parsing and validation).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from sild.errors import InvalidMessage, MissingHeader

__all__ = ["CONTENT_TYPE", "Frame", "encode_frame", "parse_frame"]

MAGIC = b"SILD\x01"
CONTENT_TYPE = "application/vnd.sild.message"
# A signed header is at most 64 KiB (sild.core.envelope.MAX_HEADER_BYTES); signatures
# and certificates fit in 16-bit lengths by construction.
MAX_HEADER = 64 * 1024
_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")


@dataclass(frozen=True, slots=True)
class Frame:
    header: bytes
    signature: bytes
    certificate: bytes
    body: bytes


def encode_frame(header: bytes, signature: bytes, certificate: bytes, body: bytes) -> bytes:
    if len(header) > MAX_HEADER or len(signature) > 0xFFFF or len(certificate) > 0xFFFF:
        raise InvalidMessage("message parts too large to frame")
    return b"".join((MAGIC, _U32.pack(len(header)), header, _U16.pack(len(signature)),
                     signature, _U16.pack(len(certificate)), certificate, body))


def parse_frame(data: bytes) -> Frame:
    """Split a frame; :class:`InvalidMessage` when it is not one, :class:`MissingHeader`
    when a part is empty."""
    view = memoryview(data)
    if bytes(view[:len(MAGIC)]) != MAGIC:
        raise InvalidMessage("not a Sild message frame (bad magic or version)")
    pos = len(MAGIC)
    parts: list[bytes] = []
    for size, limit, what in ((_U32, MAX_HEADER, "signed header"),
                              (_U16, 0xFFFF, "signature"), (_U16, 0xFFFF, "signer certificate")):
        if len(view) < pos + size.size:
            raise InvalidMessage(f"message frame truncated before its {what}")
        (n,) = size.unpack_from(view, pos)
        pos += size.size
        if n > limit:
            raise InvalidMessage(f"message frame: {what} longer than {limit} bytes")
        if len(view) < pos + n:
            raise InvalidMessage(f"message frame truncated inside its {what}")
        if n == 0:
            raise MissingHeader(f"message frame has no {what}")
        parts.append(bytes(view[pos:pos + n]))
        pos += n
    return Frame(parts[0], parts[1], parts[2], bytes(view[pos:]))
