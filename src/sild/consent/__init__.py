"""The consent service: per-category locks and signed consent artefacts, and the
decision a provider gateway asks before releasing personal data (docs/spec/consent.md).

Pure parts: :mod:`sild.consent.model` (values, status lifecycle, decision rules) and
:mod:`sild.consent.artefact` (JWS signing and offline verification). The store-backed
:class:`~sild.consent.service.ConsentService`, its HTTP app
(:mod:`sild.consent.app`) and the gateway's :class:`~sild.consent.client.ConsentClient`
are imported from their modules (they pull in SQLAlchemy, Starlette, aiohttp).
"""

from sild.consent.artefact import keys_from_jwks, sign_artefact, verify_artefact
from sild.consent.model import Artefact, Decision, Lock, LockMode, Status

__all__ = ["Artefact", "Decision", "Lock", "LockMode", "Status", "keys_from_jwks",
           "sign_artefact", "verify_artefact"]
