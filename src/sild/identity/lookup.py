"""The status source the OCSP responder reads (docs/spec/identity.md §5.4)."""

from __future__ import annotations

import sqlalchemy as sa
from cryptography import x509
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from sild.crypto.certs import fingerprint
from sild.errors import StorageError
from sild.identity._common import aware
from sild.identity.status import StatusAnswer
from sild.store.identity_tables import identities

__all__ = ["StoreStatusSource", "status"]


class StoreStatusSource:
    """The :class:`~sild.identity.status.StatusSource` of one person CA, read from the store.

    ``revoked_at``/``revocation_reason`` decide the answer (they are set while an
    identity is suspended, as certificateHold, and once it is revoked); a serial this
    issuer never issued is UNKNOWN (RFC 6960 §2.2).
    """

    def __init__(self, engine: Engine, issuer: x509.Certificate) -> None:
        self._engine = engine
        self.issuer = issuer
        self._issuer_fp = fingerprint(issuer)

    def status(self, serial: int) -> StatusAnswer:
        if not isinstance(serial, int) or serial <= 0 or serial.bit_length() > 160:
            return StatusAnswer.unknown()
        hex_serial = format(serial, "x")
        q = sa.select(identities.c.issuer, identities.c.revoked_at,
                      identities.c.revocation_reason).where(
            sa.or_(identities.c.auth_serial == hex_serial,
                   identities.c.sign_serial == hex_serial))
        try:
            with self._engine.connect() as conn:
                row = conn.execute(q).first()
        except OperationalError as e:
            raise StorageError(f"identity store unavailable: {e.orig}") from e
        if row is None or row.issuer != self._issuer_fp:
            return StatusAnswer.unknown()
        if row.revoked_at is None:
            return StatusAnswer.good()
        return StatusAnswer.revoked(aware(row.revoked_at), row.revocation_reason or "unspecified")


def status(engine: Engine, issuer: x509.Certificate, serial: int) -> StatusAnswer:
    """One lookup: the status of ``serial`` as issued by ``issuer`` (good/revoked/unknown)."""
    return StoreStatusSource(engine, issuer).status(serial)
