"""Signed documents: ASiC-E containers with XAdES-LT signatures (docs/spec/documents.md).

``container`` reads and writes the zip, ``xades`` builds the signature XML, ``sign``
makes a signature with the timestamp and OCSP ``services``, ``verify`` validates one
(``trust`` builds certificate paths, ``revocation`` checks OCSP answers).
"""

from sild.doc.container import Container, ContainerLimits, read_container, write_container

__all__ = ["Container", "ContainerLimits", "read_container", "write_container"]
