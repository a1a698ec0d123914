"""C2SP signed-note and tlog-cosignature (sild.core.note)."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from sild.core.ledger_errors import LedgerFormatError, NoteSignatureError
from sild.core.note import (
    COSIGNATURE_V1,
    ED25519,
    CosignatureSigner,
    CosignatureVerifier,
    Ed25519Signer,
    Ed25519Verifier,
    NoteSignature,
    format_note,
    key_id,
    parse_note,
    parse_signer_key,
    parse_verifier_key,
    sign_note,
    verify_note,
)
from sild.errors import ConfigurationError

# The reference vectors of golang.org/x/mod/sumdb/note (note_test.go), which the
# C2SP signed-note spec was written from; Ed25519 is deterministic, so we must
# reproduce the signature byte for byte.
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXg"
    "KvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOT"
    "GwnWLox33WWd1RvMc+QQ=\n"
)


def peter() -> Ed25519Verifier:
    v = parse_verifier_key(PETER_VKEY)
    assert isinstance(v, Ed25519Verifier)
    return v


def test_go_reference_signature_reproduced() -> None:
    """Signing the Go reference text with the Go reference key gives the Go note exactly."""
    signer = parse_signer_key(PETER_SKEY)
    assert sign_note(TEXT, signer=signer) == (TEXT + "\n" + PETER_SIG).encode()


def test_go_reference_note_verifies() -> None:
    """The Go reference note verifies with the Go reference verifier key."""
    note = verify_note((TEXT + "\n" + PETER_SIG).encode(), verifiers=[peter()])
    assert note.text == TEXT
    assert [(s.name, s.key_id) for s in note.verified] == [("PeterNeumann", 0xC74F20A3)]


def test_key_id_is_truncated_sha256_of_name_type_and_key() -> None:
    """key ID = SHA-256(name || 0x0A || 0x01 || key)[:4], big-endian (signed-note)."""
    v = peter()
    digest = hashlib.sha256(b"PeterNeumann\n\x01" + v.public_key).digest()
    assert key_id("PeterNeumann", ED25519, v.public_key) == int.from_bytes(digest[:4], "big")
    assert v.key_id == 0xC74F20A3


def test_verifier_key_round_trip() -> None:
    """A parsed verifier key formats back to the same text."""
    assert peter().vkey() == PETER_VKEY
    assert parse_signer_key(PETER_SKEY).signer_key() == PETER_SKEY


def test_verifier_key_manglings_rejected() -> None:
    """Every truncation and every single-character change of a vkey is rejected (as in Go)."""
    b = PETER_VKEY
    for i in range(len(b)):
        with pytest.raises(LedgerFormatError):
            parse_verifier_key(b[:i])
        with pytest.raises(LedgerFormatError):
            parse_verifier_key(b[i + 1 :])
        changed = b[:i] + chr(ord(b[i]) + 1) + b[i + 1 :]
        with pytest.raises(LedgerFormatError):
            parse_verifier_key(changed)


def test_signer_key_manglings_rejected() -> None:
    """Every single-character change of a signer key is rejected."""
    for i in range(len(PETER_SKEY)):
        changed = PETER_SKEY[:i] + chr(ord(PETER_SKEY[i]) + 1) + PETER_SKEY[i + 1 :]
        with pytest.raises(LedgerFormatError):
            parse_signer_key(changed)


def test_unknown_signatures_are_ignored() -> None:
    """A signature from an unknown key is ignored and reported as unverified."""
    raw = (TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode()
    note = verify_note(raw, verifiers=[peter()])
    assert [s.name for s in note.verified] == ["PeterNeumann"]
    assert [s.name for s in note.unverified] == ["EnochRoot"]


def test_both_known_signatures_verify() -> None:
    """With both keys trusted both signatures verify."""
    raw = (TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode()
    note = verify_note(raw, verifiers=[peter(), parse_verifier_key(ENOCH_VKEY)])
    assert [s.name for s in note.verified] == ["PeterNeumann", "EnochRoot"]
    assert note.unverified == ()


def test_note_without_trusted_signature_rejected() -> None:
    """A note that no trusted key signed is rejected."""
    raw = (TEXT + "\n" + ENOCH_SIG).encode()
    with pytest.raises(NoteSignatureError, match="no verifiable"):
        verify_note(raw, verifiers=[peter()])


def test_known_key_with_bad_signature_rejects_note() -> None:
    """A known key whose signature fails rejects the whole note, even with another good one."""
    bad = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    raw = (TEXT + "\n" + bad + ENOCH_SIG).encode()
    with pytest.raises(NoteSignatureError, match="PeterNeumann"):
        verify_note(raw, verifiers=[peter(), parse_verifier_key(ENOCH_VKEY)])


def test_same_name_other_id_is_unknown() -> None:
    """A signature sharing the name but not the key ID of a trusted key is ignored."""
    other = NoteSignature("PeterNeumann", 0xC74F20A4, b"x" * 64)
    raw = (TEXT + "\n" + PETER_SIG + other.line()).encode()
    assert len(verify_note(raw, verifiers=[peter()]).unverified) == 1


def test_duplicate_signatures_counted_once() -> None:
    """The same signature repeated counts once."""
    raw = (TEXT + "\n" + PETER_SIG * 3).encode()
    assert len(verify_note(raw, verifiers=[peter()]).verified) == 1


def test_ambiguous_verifiers_refused() -> None:
    """Two different trusted keys with the same name and ID are a configuration error."""
    v = peter()

    class Colliding:
        name, public_key, sig_type, key_id = v.name, b"\x00" * 32, ED25519, v.key_id

        def verify(self, text: bytes, signature: bytes) -> bool:
            return False

    with pytest.raises(ConfigurationError, match="ambiguous"):
        verify_note((TEXT + "\n" + PETER_SIG).encode(), verifiers=[v, Colliding()])


def test_too_many_signatures_rejected() -> None:
    """More than 100 signature lines is a malformed note (Go reference limit)."""
    with pytest.raises(LedgerFormatError, match="more than"):
        parse_note((TEXT + "\n" + PETER_SIG * 101).encode())


def test_sixteen_signatures_accepted() -> None:
    """At least 16 signatures must be accepted (signed-note §Format)."""
    signers = [Ed25519Signer(f"w{i}.example", Ed25519PrivateKey.generate()) for i in range(16)]
    raw = format_note(TEXT, [s.sign(TEXT.encode()) for s in signers])
    note = verify_note(raw, verifiers=[s.verifier() for s in signers])
    assert len(note.verified) == 16


@pytest.mark.parametrize(
    "raw",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        TEXT
        + "\n"
        + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvq"
        "fqdngotpRZb6KE6RyyBwJnAM=",
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + "— a+b x08go/ZJ\n",
        TEXT + "\n" + "— PeterNeumann AAAA\n",
        TEXT + "\n" + "- PeterNeumann x08go/ZJkuBS9U\n",
    ],
)
def test_malformed_notes_rejected(raw: str) -> None:
    """The Go reference's malformed notes (and a few more) raise LedgerFormatError."""
    with pytest.raises(LedgerFormatError):
        parse_note(raw.encode())


def test_invalid_utf8_rejected() -> None:
    """A note that is not UTF-8 is malformed."""
    with pytest.raises(LedgerFormatError, match="UTF-8"):
        parse_note(b"\xff" + (TEXT + "\n" + PETER_SIG).encode())


def test_text_may_contain_blank_lines() -> None:
    """The text ends at the *last* blank line, so it may contain blank lines itself."""
    text = "Ognuno sta solo\n\ned è subito sera.\n"
    signer = Ed25519Signer("quasimodo.example/salvatore", Ed25519PrivateKey.generate())
    note = verify_note(sign_note(text, signer=signer), verifiers=[signer.verifier()])
    assert note.text == text


@settings(max_examples=60)
@given(st.data())
def test_flipping_any_byte_breaks_the_note(data: st.DataObject) -> None:
    """Changing any byte of a signed note makes parsing or verification fail."""
    raw = (TEXT + "\n" + PETER_SIG).encode()
    pos = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    bit = data.draw(st.integers(min_value=0, max_value=7))
    bad = raw[:pos] + bytes([raw[pos] ^ (1 << bit)]) + raw[pos + 1 :]
    with pytest.raises((LedgerFormatError, NoteSignatureError)):
        verify_note(bad, verifiers=[peter()])


@given(st.text(alphabet=st.characters(min_codepoint=0x20, exclude_categories=["Cs"])))
def test_sign_verify_round_trip(line: str) -> None:
    """Any single-line text signs and verifies back to itself."""
    signer = parse_signer_key(PETER_SKEY)
    note = verify_note(sign_note(line + "\n", signer=signer), verifiers=[peter()])
    assert note.text == line + "\n"


# --- tlog-cosignature ---------------------------------------------------------------------

CHECKPOINT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def test_cosignature_signs_header_time_and_body() -> None:
    """A cosignature is u64 timestamp || Ed25519 over 'cosignature/v1\\ntime T\\n' + body."""
    key = Ed25519PrivateKey.generate()
    sig = CosignatureSigner("witness.example.com/w1", key).sign(
        CHECKPOINT.encode(), timestamp=1679315147
    )
    assert sig.signature[:8] == (1679315147).to_bytes(8, "big")
    message = b"cosignature/v1\ntime 1679315147\n" + CHECKPOINT.encode()
    key.public_key().verify(sig.signature[8:], message)  # raises if wrong


def test_cosignature_key_id_uses_type_04() -> None:
    """The cosigner key ID hashes signature type 0x04 (tlog-cosignature §Format)."""
    v = CosignatureSigner("w", Ed25519PrivateKey.generate()).verifier()
    assert v.key_id == key_id("w", COSIGNATURE_V1, v.public_key)
    assert v.key_id != key_id("w", ED25519, v.public_key)


def test_cosigned_note_verifies_with_timestamp() -> None:
    """A log signature plus a cosignature verify; the cosignature's timestamp is reported."""
    log = Ed25519Signer("example.com/behind-the-sofa", Ed25519PrivateKey.generate())
    witness = CosignatureSigner("witness.example.com/w1", Ed25519PrivateKey.generate())
    body = CHECKPOINT.encode()
    raw = format_note(CHECKPOINT, [log.sign(body), witness.sign(body, timestamp=1700000000)])
    note = verify_note(raw, verifiers=[log.verifier(), witness.verifier()])
    cosig = note.signed_by(witness.name, witness.verifier().key_id)
    assert cosig is not None
    assert cosig.timestamp == 1700000000


def test_cosignature_vkey_round_trip() -> None:
    """A cosigner vkey (type 0x04) parses to a CosignatureVerifier and formats back."""
    v = CosignatureSigner("witness.example/w", Ed25519PrivateKey.generate()).verifier()
    parsed = parse_verifier_key(v.vkey())
    assert isinstance(parsed, CosignatureVerifier)
    assert parsed == v


def test_cosignature_with_changed_timestamp_rejected() -> None:
    """Changing the timestamp of a cosignature breaks it."""
    witness = CosignatureSigner("w.example", Ed25519PrivateKey.generate())
    sig = witness.sign(CHECKPOINT.encode(), timestamp=1700000000)
    forged = NoteSignature(
        sig.name, sig.key_id, (1700000001).to_bytes(8, "big") + sig.signature[8:]
    )
    log = Ed25519Signer("example.com/behind-the-sofa", Ed25519PrivateKey.generate())
    raw = format_note(CHECKPOINT, [log.sign(CHECKPOINT.encode()), forged])
    with pytest.raises(NoteSignatureError, match=r"w\.example"):
        verify_note(raw, verifiers=[log.verifier(), witness.verifier()])


def test_signer_repr_hides_the_key() -> None:
    """A signer's repr never shows key material."""
    assert "secret" in repr(parse_signer_key(PETER_SKEY))
