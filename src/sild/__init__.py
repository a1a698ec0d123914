"""Sild: an X-Road-style secure data exchange layer with a KSI-style ledger.

Subpackages (docs/ has the map): ``core`` pure logic, ``crypto`` keys and
certificates, ``store`` database, ``ca``, ``registry``, ``confclient``, and
``cli`` on top.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
