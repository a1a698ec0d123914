"""``sild doc show``: what a container holds and who signed it, read without verifying
anything (docs/spec/documents.md §1)."""

from __future__ import annotations

import base64
import binascii
import warnings
from datetime import UTC, datetime

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning
from lxml import etree

from sild.doc.container import Container
from sild.doc.xades import ds, xa
from sild.identity.tsa import load_token

__all__ = ["describe"]

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                          load_dtd=False, dtd_validation=False)


def _serial_number(cert: x509.Certificate) -> str | None:
    attrs = cert.subject.get_attributes_for_oid(x509.NameOID.SERIAL_NUMBER)
    return str(attrs[0].value) if attrs else None


def _b64(text: str | None) -> bytes:
    return base64.b64decode("".join((text or "").split()), validate=True)


def describe(container: Container) -> list[dict[str, object]]:
    """What ``sild doc show`` prints per signature, without verifying anything."""
    out: list[dict[str, object]] = []
    for name, raw in sorted(container.signatures.items()):
        entry: dict[str, object] = {"file": name}
        try:
            root = etree.fromstring(raw, parser=_PARSER)
            sig = root.find(ds("Signature"))
            cert_el = sig.find(f".//{ds('X509Certificate')}") if sig is not None else None
            if cert_el is not None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
                    cert = x509.load_der_x509_certificate(_b64(cert_el.text))
                entry["signer"] = cert.subject.rfc4514_string()
                entry["signer_serial_number"] = _serial_number(cert)
            st = sig.find(f".//{xa('SigningTime')}") if sig is not None else None
            entry["claimed_signing_time"] = (st.text or "").strip() if st is not None else None
            tst = sig.find(f".//{xa('EncapsulatedTimeStamp')}") if sig is not None else None
            if tst is not None:
                entry["timestamp"] = _gen_time(_b64(tst.text))
        except (etree.XMLSyntaxError, ValueError, binascii.Error) as e:
            entry["error"] = str(e)
        out.append(entry)
    return out


def _gen_time(token: bytes) -> str | None:
    try:
        info = load_token(token)["content"]["encap_content_info"]["content"].parsed
        gen: datetime = info["gen_time"].native
        return gen.astimezone(UTC).isoformat()
    except Exception:  # an unreadable token is shown as unknown, not verified here
        return None
