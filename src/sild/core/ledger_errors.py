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

from sild.errors import (  # re-exported
    HashAlgorithmError,
    LedgerFormatError,
    NoteSignatureError,
    ProofError,
)

__all__ = [
    "HashAlgorithmError",
    "LedgerFormatError",
    "NoteSignatureError",
    "ProofError",
]

