"""Errors of the ledger's pure core (Merkle proofs, imprints, notes, checkpoints, tiles).

They extend the one exception tree in :mod:`sild.errors` (STYLE.md rule 4): everything
here is a :class:`~sild.errors.RemoteError`, because a proof, note, checkpoint or tile
that fails these checks was handed to us by someone else.

::

    RemoteError
    ├── ProofError                Client.InvalidHashChain      (a Merkle proof does not verify)
    ├── InvalidRequest
    │   └── LedgerFormatError     Client.InvalidRequest        (malformed note/checkpoint/tile/…)
    ├── HashAlgorithmError        Client.InvalidHashAlgorithm  (unknown/deprecated imprint)
    └── SignatureError
        └── NoteSignatureError    Client.InvalidSignatureValue (a signed note does not verify)
"""

from __future__ import annotations

from sild.errors import InvalidRequest, RemoteError, SignatureError

__all__ = [
    "HashAlgorithmError",
    "LedgerFormatError",
    "NoteSignatureError",
    "ProofError",
]


class ProofError(RemoteError):
    """A Merkle inclusion or consistency proof that does not verify (RFC 9162 §2.1.3, §2.1.4).

    ``InvalidHashChain`` is the name KSI gives the same failure.
    """

    code = "InvalidHashChain"


class LedgerFormatError(InvalidRequest):
    """Bytes that do not follow a ledger format (signed note, checkpoint, tile, tlog-proof)."""


class HashAlgorithmError(RemoteError):
    """An imprint with an unknown, retired, deprecated or wrongly sized hash algorithm."""

    code = "InvalidHashAlgorithm"


class NoteSignatureError(SignatureError):
    """A signed note with a bad signature from a known key, or none from a trusted key."""
