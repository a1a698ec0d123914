"""Validate the signatures of an ASiC-E container (docs/spec/documents.md §5; ETSI EN
319 102-1 §5 basic and long-term validation, as DigiDoc software applies it to BDOC 2.1).

Per signature, in this order (each a :class:`Step`):

1. ``format``: one ``ds:Signature`` in an ``asic:XAdESSignatures`` file, XML without
   DTDs or entities; the profile is XAdES-T/LT (a SignatureTimeStamp). BDOC-TM (time-mark:
   a BDOC policy and no timestamp) and B-level signatures are INDETERMINATE;
2. ``references``: every data file of the container is referenced exactly once, every
   reference names a data file (a swapped, added or removed file, or a signature taken
   from another container, fails here or in 3), plus one reference to SignedProperties;
3. ``data``: each data file's digest (XML-DSig §4.4.3.3);
4. ``signing-certificate``: the KeyInfo certificate is the one SigningCertificate(V2)
   names (digest, IssuerSerial) and has nonRepudiation;
5. ``signed-properties``: the SignedProperties digest over its canonical form;
6. ``signature-value``: the value over the canonical SignedInfo (XML-DSig §3.2.2);
7. ``timestamp``: the RFC 3161 token verifies and chains to a trust anchor, and its
   imprint is the hash of the canonical ds:SignatureValue (EN 319 132-1 §5.3);
   its ledger receipt, when there is one and a ledger key was given (docs/spec/tsa.md §4);
8. ``chain``: a path from the signer to a trust anchor, every certificate valid at the
   timestamp (no path: INDETERMINATE);
9. ``revocation``: an embedded OCSP answer for the signer, signed by an authorised
   responder, produced after the timestamp (within 1 s: OCSP times are whole seconds)
   and not more than 24 h later; *revoked* at or before the timestamp → INVALID.

The signature is INVALID if any step failed, else INDETERMINATE if any could not decide,
else VALID. Pure: bytes, trust anchors and the time in; a report out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import warnings
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

from asn1crypto import cms as asn1_cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.utils import CryptographyDeprecationWarning
from lxml import etree

from sild.core.verification import Status, TrustPolicy
from sild.doc.container import Container, ContainerLimits, read_container
from sild.doc.report import ContainerReport, Indication, SignatureReport, Step
from sild.doc.revocation import check_ocsp
from sild.doc.trust import TrustList, path_to_anchor
from sild.doc.xades import (
    ASIC,
    C14N_10,
    DIGESTS,
    SIGNATURES,
    SIGNED_PROPERTIES_TYPE,
    c14n,
    ds,
    hash_name,
    xa,
)
from sild.errors import CertificateError, InvalidRequest, SildError
from sild.identity.tsa_verify import verify_timestamp, verify_token

__all__ = [
    "ContainerReport",
    "Indication",
    "SignatureReport",
    "Step",
    "verify_container",
]  # the report types live in sild.doc.report

BDOC_TM_POLICY = "1.3.6.1.4.1.10015.1000.3.2.1"  # BDOC 2.1 §5.2: the time-mark policy
_LIMITS = ContainerLimits()
OCSP_SLACK = timedelta(seconds=1)
OCSP_MAX_DELAY = timedelta(hours=24)
OCSP_WARN_DELAY = timedelta(minutes=15)

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                          load_dtd=False, dtd_validation=False, remove_comments=False)


class _Fail(Exception):
    """One step's verdict other than OK: ``status`` FAIL or NA."""

    def __init__(self, status: Status, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _na(message: str) -> _Fail:
    return _Fail(Status.NA, message)


def _fail(message: str) -> _Fail:
    return _Fail(Status.FAIL, message)


def _b64(text: str | None, what: str) -> bytes:
    try:
        return base64.b64decode("".join((text or "").split()), validate=True)
    except (binascii.Error, ValueError) as e:
        raise _fail(f"{what} is not base64") from e


def _cert(der: bytes, what: str) -> x509.Certificate:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        try:
            return x509.load_der_x509_certificate(der)
        except ValueError as e:
            raise _fail(f"{what} is not a certificate: {e}") from e


def _find(el: etree._Element, path: str) -> etree._Element:
    found = el.find(path)
    if found is None:
        raise _fail(f"{path.split('}')[-1]} is missing")
    return found


def _digest(el: etree._Element) -> tuple[str, bytes]:
    """(hash name, value) of an element holding ds:DigestMethod and ds:DigestValue."""
    method = _find(el, ds("DigestMethod")).get("Algorithm", "")
    if method not in DIGESTS:
        raise _na(f"digest method {method} is not supported")
    return DIGESTS[method], _b64(_find(el, ds("DigestValue")).text, "DigestValue")


class _Checker:
    """The steps for one signature file of one container."""

    def __init__(self, container: Container, name: str, raw: bytes, *, trust: TrustList,
                 policy: TrustPolicy | None, at: datetime,
                 digests: dict[tuple[str, str], bytes]) -> None:
        self.container = container
        self.name = name
        self.raw = raw
        self.trust = trust
        self.policy = policy
        self.at = at
        self.digests = digests  # (file, hash) → digest, shared by the signatures
        self.steps: list[Step] = []
        self.notes: list[str] = []
        self.signer: x509.Certificate | None = None
        self.claimed: str | None = None
        self.gen_time: datetime | None = None

    def step(self, name: str, check: object) -> object:
        """Run ``check()``; record OK / FAIL / NA; a FAIL stops nothing (all steps run
        that can), but later steps that need its result are skipped."""
        try:
            result = check()  # type: ignore[operator]
        except _Fail as f:
            self.steps.append(Step(name, f.status, f.message))
            return None
        except SildError as e:
            self.steps.append(Step(name, Status.FAIL, e.message))
            return None
        except (ValueError, TypeError, KeyError, IndexError, OverflowError,
                UnsupportedAlgorithm) as e:  # a stranger's malformed ASN.1 or XML value
            self.steps.append(Step(name, Status.FAIL, f"malformed: {e}"))
            return None
        self.steps.append(Step(name, Status.OK, _summary(result)))
        return result

    # (1) format and profile
    def parse(self) -> etree._Element:
        try:
            root = etree.fromstring(self.raw, parser=_PARSER)
        except etree.XMLSyntaxError as e:
            raise _fail(f"not XML: {e}") from e
        if b"<!DOCTYPE" in self.raw:
            raise _fail("a DOCTYPE is not allowed in a signature file")
        if root.tag != f"{{{ASIC}}}XAdESSignatures":
            raise _fail("the root is not asic:XAdESSignatures (EN 319 162-1 §A.5)")
        sigs = root.findall(ds("Signature"))
        if len(sigs) != 1:
            raise _fail(f"{len(sigs)} ds:Signature elements; one per file (BDOC 2.1 §3)")
        for el in root.iter():
            if any(str(k).startswith("{http://www.w3.org/XML/1998/namespace}")
                   for k in el.attrib):
                raise _na("xml:* attributes present: C14N 1.1 inheritance is not supported")
        return sigs[0]

    def profile(self, sig: etree._Element) -> str:
        usp = sig.find(f"{ds('Object')}/{xa('QualifyingProperties')}/"
                       f"{xa('UnsignedProperties')}/{xa('UnsignedSignatureProperties')}")
        has_ts = usp is not None and usp.find(xa("SignatureTimeStamp")) is not None
        policy = sig.find(f".//{xa('SignaturePolicyIdentifier')}//{xa('Identifier')}")
        oid = (policy.text or "").strip().removeprefix("urn:oid:") if policy is not None else ""
        if not has_ts:
            if oid == BDOC_TM_POLICY:
                raise _na("BDOC-TM (time-mark) signature: this profile is not supported; "
                          "only XAdES-T/LT are")
            raise _na("no SignatureTimeStamp: a XAdES-B signature cannot be validated "
                      "long-term")
        has_ocsp = usp is not None and usp.find(
            f"{xa('RevocationValues')}/{xa('OCSPValues')}/{xa('EncapsulatedOCSPValue')}") \
            is not None
        return "XAdES-LT" if has_ocsp else "XAdES-T"

    # (2) references and (3) data
    def references(self, sig: etree._Element) -> tuple[list[tuple[str, etree._Element]],
                                                       etree._Element]:
        info = _find(sig, ds("SignedInfo"))
        data_refs: list[tuple[str, etree._Element]] = []
        props_refs = []
        for ref in info.findall(ds("Reference")):
            uri = ref.get("URI")
            if ref.get("Type") == SIGNED_PROPERTIES_TYPE or (uri or "").startswith("#"):
                props_refs.append(ref)
                continue
            if uri is None:
                raise _fail("a reference has no URI")
            data_refs.append((unquote(uri.removeprefix("./")), ref))
        if len(props_refs) != 1:
            raise _fail(f"{len(props_refs)} references to SignedProperties; exactly one")
        names = [n for n, _ in data_refs]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise _fail(f"data file(s) referenced twice: {', '.join(dup)}")
        missing = [n for n in names if n not in self.container.files]
        if missing:
            raise _fail("the signature covers file(s) the container does not hold: "
                        + ", ".join(missing) + " (moved from another container?)")
        uncovered = [n for n in self.container.files if n not in names]
        if uncovered:
            raise _fail("file(s) not covered by this signature: " + ", ".join(uncovered))
        return data_refs, props_refs[0]

    def data(self, data_refs: list[tuple[str, etree._Element]]) -> str:
        for name, ref in data_refs:
            if ref.find(ds("Transforms")) is not None:
                raise _na(f"the reference to {name} has transforms; not supported")
            alg, value = _digest(ref)
            key = (name, alg)
            if key not in self.digests:
                self.digests[key] = hashlib.new(alg, self.container.files[name]).digest()
            if self.digests[key] != value:
                raise _fail(f"data file {name} does not match its digest "
                            "(changed after signing)")
        return f"{len(data_refs)} data file digest(s) match"

    # (4) the signing certificate
    def signing_certificate(self, sig: etree._Element) -> x509.Certificate:
        certs = sig.findall(f"{ds('KeyInfo')}/{ds('X509Data')}/{ds('X509Certificate')}")
        if not certs:
            raise _fail("KeyInfo carries no signing certificate")
        cert = _cert(_b64(certs[0].text, "X509Certificate"), "KeyInfo")
        self.signer = cert
        ssp = _find(sig, f"{ds('Object')}/{xa('QualifyingProperties')}/"
                         f"{xa('SignedProperties')}/{xa('SignedSignatureProperties')}")
        st = ssp.find(xa("SigningTime"))
        self.claimed = (st.text or "").strip() if st is not None else None
        v2 = ssp.findall(f"{xa('SigningCertificateV2')}/{xa('Cert')}")
        v1 = ssp.findall(f"{xa('SigningCertificate')}/{xa('Cert')}")
        entries = v2 or v1
        if len(entries) < 1:
            raise _fail("SignedProperties name no signing certificate")
        der = cert.public_bytes(Encoding.DER)
        for entry in entries:
            alg, value = _digest(_find(entry, xa("CertDigest")))
            if hashlib.new(alg, der).digest() == value:
                break
        else:
            raise _fail("the KeyInfo certificate is not the one SigningCertificate names")
        serial_v2 = entry.find(xa("IssuerSerialV2"))
        if serial_v2 is not None:
            try:
                issuer_serial = asn1_cms.IssuerSerial.load(_b64(serial_v2.text, "IssuerSerialV2"))
                serial = issuer_serial["serial"].native
                names = [g.chosen.untag().dump() for g in issuer_serial["issuer"]
                         if g.name == "directory_name"]
            except ValueError as e:
                raise _fail(f"IssuerSerialV2 is malformed: {e}") from e
            if serial != cert.serial_number or cert.issuer.public_bytes() not in names:
                raise _fail("IssuerSerialV2 does not name the signing certificate")
        serial_v1 = entry.find(f"{xa('IssuerSerial')}/{ds('X509SerialNumber')}")
        if serial_v1 is not None and (serial_v1.text or "").strip() != str(cert.serial_number):
            raise _fail("IssuerSerial does not name the signing certificate")
        try:
            ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
            if not ku.content_commitment:
                raise _fail("the signing certificate is not for non-repudiation (KeyUsage)")
        except x509.ExtensionNotFound as e:
            raise _fail("the signing certificate has no KeyUsage") from e
        except ValueError as e:
            raise _fail(f"the signing certificate is malformed: {e}") from e
        return cert

    # (5) SignedProperties
    def signed_properties(self, sig: etree._Element, ref: etree._Element) -> str:
        target = (ref.get("URI") or "").removeprefix("#")
        props = [p for p in sig.iter(xa("SignedProperties")) if p.get("Id") == target]
        if len(props) != 1:
            raise _fail("the SignedProperties reference does not resolve to one element")
        transforms = ref.findall(f"{ds('Transforms')}/{ds('Transform')}")
        if len(transforms) > 1:
            raise _na("more than one transform on SignedProperties; not supported")
        method = transforms[0].get("Algorithm", "") if transforms else C14N_10
        alg, value = _digest(ref)
        try:
            canonical = c14n(props[0], method)
        except InvalidRequest as e:
            raise _na(e.message) from e
        if hashlib.new(alg, canonical).digest() != value:
            raise _fail("SignedProperties do not match their digest (changed after signing)")
        return "SignedProperties digest matches"

    # (6) the signature value
    def signature_value(self, sig: etree._Element, cert: x509.Certificate) -> str:
        info = _find(sig, ds("SignedInfo"))
        c14n_method = _find(info, ds("CanonicalizationMethod")).get("Algorithm", "")
        method = _find(info, ds("SignatureMethod")).get("Algorithm", "")
        if method not in SIGNATURES:
            raise _na(f"signature method {method} is not supported")
        kind, hash_ = SIGNATURES[method]
        value = _b64(_find(sig, ds("SignatureValue")).text, "SignatureValue")
        try:
            canonical = c14n(info, c14n_method)
        except InvalidRequest as e:
            raise _na(e.message) from e
        key = cert.public_key()
        try:
            if kind == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey):
                half = len(value) // 2
                if len(value) % 2 or half == 0:
                    raise _fail("the ECDSA signature value has an odd length")
                der = encode_dss_signature(int.from_bytes(value[:half], "big"),
                                           int.from_bytes(value[half:], "big"))
                key.verify(der, canonical, ec.ECDSA(hash_name(hash_)))
            elif kind == "rsa" and isinstance(key, rsa.RSAPublicKey):
                key.verify(value, canonical, padding.PKCS1v15(), hash_name(hash_))
            elif kind == "rsa-pss" and isinstance(key, rsa.RSAPublicKey):
                h = hash_name(hash_)
                key.verify(value, canonical, padding.PSS(padding.MGF1(h), h.digest_size), h)
            else:
                raise _fail(f"signature method {method} does not fit the signer's key")
        except (InvalidSignature, ValueError, UnsupportedAlgorithm) as e:
            raise _fail("the signature value does not verify over SignedInfo") from e
        return f"{method.rsplit('#', 1)[-1]} over SignedInfo verifies"

    # (7) the timestamp
    def timestamp(self, sig: etree._Element) -> str:
        usp = _find(sig, f"{ds('Object')}/{xa('QualifyingProperties')}/"
                         f"{xa('UnsignedProperties')}/{xa('UnsignedSignatureProperties')}")
        ts = _find(usp, xa("SignatureTimeStamp"))
        method_el = ts.find(ds("CanonicalizationMethod"))
        method = method_el.get("Algorithm", "") if method_el is not None else C14N_10
        token = _b64(_find(ts, xa("EncapsulatedTimeStamp")).text, "EncapsulatedTimeStamp")
        try:
            canonical = c14n(_find(sig, ds("SignatureValue")), method)
        except InvalidRequest as e:
            raise _na(e.message) from e
        try:
            tok = verify_token(token, roots=self.trust.anchors)
        except CertificateError as e:
            if "approved CA" in e.message:
                raise _na(f"the TSA is not trusted: {e.message}") from e
            raise _fail(f"timestamp: {e.message}") from e
        except SildError as e:
            raise _fail(f"timestamp: {e.message}") from e
        if hashlib.new(tok.algorithm, canonical).digest() != tok.digest:
            raise _fail("the timestamp is not over this SignatureValue")
        self.gen_time = tok.gen_time
        if tok.receipt is not None:
            if self.policy is None or not self.policy.log_keys:
                self.notes.append("the timestamp carries a ledger receipt; not checked "
                                  "(give --ledger-key)")
            else:
                v = verify_timestamp(token, document_digest=tok.digest,
                                     roots=self.trust.anchors, policy=self.policy, at=self.at)
                if v.status is Status.FAIL:
                    raise _fail(f"ledger receipt: {v.code} {v.message}")
                self.notes.append(f"ledger receipt: {v.status.value} {v.message}")
        return f"{tok.tsa_certificate.subject.rfc4514_string()} at {tok.gen_time.isoformat()}"

    # (8) the chain
    def chain(self, sig: etree._Element, cert: x509.Certificate) -> list[x509.Certificate]:
        extra = [_cert(_b64(e.text, "EncapsulatedX509Certificate"), "CertificateValues")
                 for e in sig.iter(xa("EncapsulatedX509Certificate"))]
        try:
            chain = path_to_anchor(cert, self.trust, intermediates=extra, at=None)
        except CertificateError as e:
            raise _na(e.message) from e
        at = self.gen_time
        if at is None:
            raise _na("no verified timestamp to check validity at")
        for c in chain:
            if not c.not_valid_before_utc <= at <= c.not_valid_after_utc:
                raise _fail(f"{c.subject.rfc4514_string()} was not valid at the timestamp "
                            f"{at:%Y-%m-%dT%H:%M:%SZ}")
        if len(chain) < 2:
            raise _na("the signing certificate is itself a trust anchor; no issuer for OCSP")
        self._chain = chain
        self._extra = extra
        return chain

    # (9) revocation
    def revocation(self, sig: etree._Element, chain: list[x509.Certificate]) -> str:
        values = list(sig.iter(xa("EncapsulatedOCSPValue")))
        if not values:
            raise _na("no OCSP answer embedded (XAdES-T, not LT)")
        last: SildError | None = None
        for v in values:
            try:
                result = check_ocsp(_b64(v.text, "EncapsulatedOCSPValue"), certificate=chain[0],
                                    issuer=chain[1], trust=self.trust,
                                    intermediates=[*chain, *self._extra])
                break
            except SildError as e:
                last = e
        else:
            raise _fail(f"OCSP: {last.message if last else 'no answer'}")
        gen = self.gen_time
        assert gen is not None  # chain() needs it
        if result.status == "revoked" and result.revoked_at is not None \
                and result.revoked_at <= gen:
            raise _fail(f"the signer's certificate was revoked at "
                        f"{result.revoked_at:%Y-%m-%dT%H:%M:%SZ} ({result.reason or 'no reason'}),"
                        " before the timestamp")
        if result.status == "unknown":
            raise _na("the OCSP responder does not know the signer's certificate")
        if result.produced_at + OCSP_SLACK < gen:
            raise _fail("the OCSP answer was produced before the timestamp")
        delay = result.produced_at - gen
        if delay > OCSP_MAX_DELAY:
            raise _fail(f"the OCSP answer was produced {delay} after the timestamp (> 24 h)")
        if delay > OCSP_WARN_DELAY:
            self.notes.append(f"OCSP produced {delay} after the timestamp (> 15 min)")
        if result.status == "revoked":
            self.notes.append("the certificate was revoked after the timestamp")
        return (f"{result.status} at {result.produced_at:%Y-%m-%dT%H:%M:%SZ} by "
                f"{result.responder.subject.rfc4514_string()}")

    def run(self) -> SignatureReport:
        sig = self.step("format", self.parse)
        if isinstance(sig, etree._Element):
            self.step("profile", lambda: self.profile(sig))
            refs = self.step("references", lambda: self.references(sig))
            if isinstance(refs, tuple):
                self.step("data", lambda: self.data(refs[0]))
            cert = self.step("signing-certificate", lambda: self.signing_certificate(sig))
            if isinstance(refs, tuple):
                self.step("signed-properties", lambda: self.signed_properties(sig, refs[1]))
            if isinstance(cert, x509.Certificate):
                self.step("signature-value", lambda: self.signature_value(sig, cert))
            if not any(s.name == "profile" and s.status is Status.NA for s in self.steps):
                self.step("timestamp", lambda: self.timestamp(sig))
                if isinstance(cert, x509.Certificate):
                    chain = self.step("chain", lambda: self.chain(sig, cert))
                    if isinstance(chain, list):
                        self.step("revocation", lambda: self.revocation(sig, chain))
        return self.report()

    def report(self) -> SignatureReport:
        failed = [s for s in self.steps if s.status is Status.FAIL]
        na = [s for s in self.steps if s.status is Status.NA]
        if failed:
            ind, reason = Indication.INVALID, f"{failed[0].name}: {failed[0].message}"
        elif na:
            ind, reason = Indication.INDETERMINATE, f"{na[0].name}: {na[0].message}"
        else:
            ind, reason = Indication.VALID, "all checks passed"
        signer = self.signer
        return SignatureReport(
            name=self.name, indication=ind, reason=reason,
            signer=signer.subject.rfc4514_string() if signer else None,
            signer_serial=_serial_number(signer) if signer else None,
            claimed_time=self.claimed, timestamp=self.gen_time, steps=tuple(self.steps),
            notes=tuple(self.notes))


def _summary(result: object) -> str:
    """The OK message of a step from what it returned."""
    if isinstance(result, str):
        return result
    if isinstance(result, x509.Certificate):
        return result.subject.rfc4514_string()
    if isinstance(result, list):  # a certificate path
        return " → ".join(c.subject.rfc4514_string() for c in result)
    if isinstance(result, tuple):  # (data references, SignedProperties reference)
        return f"{len(result[0])} data file(s) and the SignedProperties referenced"
    return "one ds:Signature in asic:XAdESSignatures"


def _serial_number(cert: x509.Certificate) -> str | None:
    attrs = cert.subject.get_attributes_for_oid(x509.NameOID.SERIAL_NUMBER)
    return str(attrs[0].value) if attrs else None


def verify_container(data: bytes | Container, *, trust: TrustList,
                     policy: TrustPolicy | None = None, at: datetime | None = None,
                     limits: ContainerLimits = _LIMITS) -> ContainerReport:
    """Check every signature of the container (module docstring). A malformed container
    raises :class:`~sild.errors.InvalidContainer`; signature problems are in the report."""
    container = data if isinstance(data, Container) else read_container(data, limits=limits)
    at = at or datetime.now(UTC)
    digests: dict[tuple[str, str], bytes] = {}
    reports = tuple(
        _Checker(container, name, raw, trust=trust, policy=policy, at=at,
                 digests=digests).run()
        for name, raw in sorted(container.signatures.items()))
    files = tuple((n, len(b), container.mimetypes.get(n, "application/octet-stream"))
                  for n, b in container.files.items())
    return ContainerReport(files=files, signatures=reports)
