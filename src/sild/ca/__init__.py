"""The instance certificate authority (``sild ca``)."""

from sild.ca.authority import CertificateAuthority

__all__ = ["CertificateAuthority"]
