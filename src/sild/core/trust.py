"""What a gateway trusts, derived once per global-configuration version.

Built from a :class:`~sild.core.globalconf.VerifiedGlobalConf`: parsed approved CA
certificates, the registered auth-certificate fingerprints, and a cache of sign
certificates already checked (chain and key usage), so the hot path re-checks only
what can change within one document: revocation and validity time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from sild.core.globalconf import GatewayEntry, GlobalConf, VerifiedGlobalConf
from sild.core.identifiers import ClientId, MemberId, ServerId
from sild.crypto.certs import (
    CertPurpose,
    check_usage,
    find_issuer,
    fingerprint,
    identity_of,
    serial_hex,
)
from sild.crypto.keys import PublicKey, key_type_of
from sild.errors import (
    CertificateError,
    CertificateRevoked,
    InvalidRequest,
    SslAuthenticationFailed,
)

__all__ = ["CheckedSigner", "TrustView"]

# Sign certificates remembered per configuration version; bounded (DoS: a peer could
# send many distinct certificates).
MAX_CACHED_SIGNERS = 4096


@dataclass(frozen=True, slots=True)
class CheckedSigner:
    member: MemberId
    public_key: PublicKey
    ca_fingerprint: str
    serial: str
    not_before: datetime
    not_after: datetime


class TrustView:
    def __init__(self, verified: VerifiedGlobalConf) -> None:
        self.verified = verified
        self.conf: GlobalConf = verified.conf
        self.ca_certs = [x509.load_pem_x509_certificate(c.certificate_pem.encode())
                         for c in self.conf.cas]
        self.ca_pems = [c.certificate_pem for c in self.conf.cas]
        self.gateways_by_fingerprint: dict[str, GatewayEntry] = {
            g.auth_fingerprint: g for g in self.conf.gateways}
        self.gateways_by_address: dict[str, str] = {
            g.address: g.auth_fingerprint for g in self.conf.gateways}
        self._signers: dict[bytes, CheckedSigner] = {}
        self._hosted: dict[ServerId, frozenset[ClientId]] = {}

    @property
    def version(self) -> int:
        return self.conf.version

    def hosted_by(self, gateway: GatewayEntry) -> frozenset[ClientId]:
        """The clients ``gateway`` serves: those registered on it and, as in X-Road, its
        owner member, which needs no registration of its own."""
        hosted = self._hosted.get(gateway.id)
        if hosted is None:
            hosted = self._hosted[gateway.id] = frozenset((*gateway.clients,
                                                           gateway.id.owner))
        return hosted

    def gateway_by_fingerprint(self, fp: str | None) -> GatewayEntry | None:
        return self.gateways_by_fingerprint.get(fp) if fp else None

    def check_gateway_certificate(self, der: bytes, *, at: datetime) -> GatewayEntry:
        """A TLS peer: a registered gateway's auth certificate, from an approved CA, valid
        now and unrevoked (ARCHITECTURE.md §3). Raises :class:`SslAuthenticationFailed`."""
        peer = self.gateways_by_fingerprint.get(hashlib.sha256(der).hexdigest())
        if peer is None:
            raise SslAuthenticationFailed(
                "certificate is not the auth certificate of a registered gateway")
        try:
            cert = x509.load_der_x509_certificate(der)
            issuer = find_issuer(cert, self.ca_certs, at=at)
        except (ValueError, CertificateError) as e:
            raise SslAuthenticationFailed(f"auth certificate of {peer.id}: {e}") from e
        if self.conf.is_revoked(fingerprint(issuer), serial_hex(cert)):
            raise SslAuthenticationFailed(f"auth certificate of {peer.id} is revoked")
        return peer

    def check_signer(self, cert_der: bytes, *, member: MemberId, at: datetime) -> CheckedSigner:
        """A sign certificate for ``member``: approved CA, valid, unrevoked, sign usage."""
        key = hashlib.sha256(cert_der).digest()
        signer = self._signers.get(key)
        if signer is None:
            try:
                cert = x509.load_der_x509_certificate(cert_der)
            except ValueError as e:
                raise CertificateError("signer certificate is not valid DER") from e
            issuer = find_issuer(cert, self.ca_certs, at=at)
            check_usage(cert, CertPurpose.SIGN)
            public_key = cert.public_key()
            try:
                key_type_of(public_key)
            except InvalidRequest as e:
                raise CertificateError(f"signer certificate: {e}") from e
            signer = CheckedSigner(
                member=MemberId.parse(identity_of(cert)),
                public_key=public_key,  # type: ignore[arg-type]  # narrowed by key_type_of
                ca_fingerprint=fingerprint(issuer), serial=serial_hex(cert),
                not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc)
            if len(self._signers) < MAX_CACHED_SIGNERS:
                self._signers[key] = signer
        if signer.member != member:
            raise CertificateError(f"signer certificate is for {signer.member}, not {member}")
        if not signer.not_before <= at <= signer.not_after:
            raise CertificateError("signer certificate is not valid now")
        if self.conf.is_revoked(signer.ca_fingerprint, signer.serial):
            raise CertificateRevoked(f"signer certificate {signer.serial} is revoked")
        return signer
