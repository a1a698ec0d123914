"""Digital identity (docs/spec/identity.md).

Modules: ``person_ca`` and ``profiles`` (certificates), ``token`` (soft token, PINs),
``records`` (states), ``service`` (issuance and lifecycle), ``eresidency`` (workflow),
``drill`` (mass suspension), ``lookup`` (the :class:`StatusSource` OCSP reads),
``home`` (the instance folder). Only the status contract is imported here, so importing
this package stays cheap.
"""

from sild.identity.status import CertStatus, StatusAnswer, StatusSource

__all__ = ["CertStatus", "StatusAnswer", "StatusSource"]
