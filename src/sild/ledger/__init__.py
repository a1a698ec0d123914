"""The ledger: KSI-style rounds and calendar on C2SP transparency-log formats.

docs/spec/ledger.md. Public API:

* :class:`~sild.ledger.client.LedgerClient` — ``await client.submit(imprints) -> receipts``
  (what a gateway calls to anchor its log);
* :class:`~sild.ledger.service.Ledger` and :func:`~sild.ledger.api.create_app` — the service;
* :func:`~sild.ledger.home.init_ledger`, :func:`~sild.ledger.home.open_ledger` — folders.
"""

from sild.ledger.client import LedgerClient
from sild.ledger.service import Ledger, Submission

__all__ = ["Ledger", "LedgerClient", "Submission"]
