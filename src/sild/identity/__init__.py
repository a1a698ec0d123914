"""Digital identity: personal codes, the person CA, soft tokens, the identity store
(docs/spec/identity.md)."""

from sild.identity.status import CertStatus, StatusAnswer, StatusSource

__all__ = ["CertStatus", "StatusAnswer", "StatusSource"]
