"""C2SP tlog-checkpoint parsing, formatting, signing and verification (sild.core.checkpoint)."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from sild.core.checkpoint import (
    Checkpoint,
    add_cosignature,
    parse_checkpoint,
    sign_checkpoint,
    verify_checkpoint,
)
from sild.core.ledger_errors import LedgerFormatError, NoteSignatureError
from sild.core.merkle import EMPTY_ROOT, RootHash
from sild.core.note import CosignatureSigner, Ed25519Signer, format_note

# The example of c2sp.org/tlog-checkpoint (its body; the signature key is not published).
SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
ORIGIN = "example.com/behind-the-sofa"
ROOT = RootHash(base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="))

LOG = Ed25519Signer(ORIGIN, Ed25519PrivateKey.generate())
W1 = CosignatureSigner("witness.example.com/w1", Ed25519PrivateKey.generate())
W2 = CosignatureSigner("witness.example.com/w2", Ed25519PrivateKey.generate())


def test_spec_example_parses() -> None:
    """The tlog-checkpoint spec example parses to origin, size and root."""
    cp = parse_checkpoint(SPEC_BODY)
    assert (cp.origin, cp.size, cp.root, cp.extensions) == (ORIGIN, 20852163, ROOT, ())


def test_body_round_trip() -> None:
    """Formatting a parsed checkpoint gives the same text."""
    assert parse_checkpoint(SPEC_BODY).body() == SPEC_BODY


def test_extension_lines_kept() -> None:
    """Optional extension lines are parsed and formatted in order."""
    text = SPEC_BODY + "ext one\next two\n"
    cp = parse_checkpoint(text)
    assert cp.extensions == ("ext one", "ext two")
    assert cp.body() == text


def test_empty_tree_checkpoint() -> None:
    """A size-0 checkpoint is written 0 with the empty-tree root."""
    cp = Checkpoint(ORIGIN, 0, EMPTY_ROOT)
    assert cp.body().split("\n")[1] == "0"
    assert parse_checkpoint(cp.body()) == cp


@pytest.mark.parametrize(
    "text",
    [
        "",
        SPEC_BODY[:-1],  # no final newline
        "example.com/log\n5\n",  # two lines
        "\n5\n" + SPEC_BODY.split("\n")[2] + "\n",  # empty origin
        ORIGIN + "\n05\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",  # leading zero
        ORIGIN + "\n+5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        ORIGIN + "\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        ORIGIN + "\n 5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        ORIGIN + "\n٥\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",  # Arabic-Indic digit
        ORIGIN + "\n18446744073709551616\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        ORIGIN + "\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n",  # no padding
        ORIGIN + "\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n",  # non-canonical
        ORIGIN + "\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jx\n",  # short hash
        ORIGIN + "\n5\n" + base64.b64encode(b"x" * 33).decode() + "\n",  # long hash
        SPEC_BODY + "\n",  # an empty extension line
    ],
)
def test_malformed_checkpoints_rejected(text: str) -> None:
    """Malformed checkpoint texts raise LedgerFormatError."""
    with pytest.raises(LedgerFormatError):
        parse_checkpoint(text)


@given(
    st.text(alphabet=st.characters(min_codepoint=0x21, exclude_categories=["Cs"]), min_size=1),
    st.integers(min_value=0, max_value=2**64 - 1),
    st.binary(min_size=32, max_size=32),
)
def test_parse_format_round_trip(origin: str, size: int, root: bytes) -> None:
    """Any checkpoint formats and parses back to itself."""
    cp = Checkpoint(origin, size, RootHash(root))
    assert parse_checkpoint(cp.body()) == cp


def test_signed_checkpoint_verifies() -> None:
    """A checkpoint signed by the log verifies against the log's key and origin."""
    raw = sign_checkpoint(parse_checkpoint(SPEC_BODY), signer=LOG)
    vc = verify_checkpoint(raw, origin=ORIGIN, log_keys=[LOG.verifier()])
    assert vc.checkpoint.size == 20852163
    assert vc.raw == raw


def test_wrong_origin_rejected() -> None:
    """A checkpoint from another origin is rejected even with a good signature."""
    raw = sign_checkpoint(parse_checkpoint(SPEC_BODY), signer=LOG)
    with pytest.raises(LedgerFormatError, match="origin"):
        verify_checkpoint(raw, origin="example.com/other", log_keys=[LOG.verifier()])


def test_witness_only_signature_is_not_enough() -> None:
    """A note signed only by a witness is not a checkpoint from the log."""
    cp = parse_checkpoint(SPEC_BODY)
    body = cp.body().encode()
    raw = format_note(cp.body(), [W1.sign(body, timestamp=1)])
    with pytest.raises(NoteSignatureError, match="not signed by the log"):
        verify_checkpoint(raw, origin=ORIGIN, log_keys=[LOG.verifier()], witnesses=[W1.verifier()])


def test_witness_quorum_met() -> None:
    """Two cosignatures satisfy a quorum of two; their timestamps are reported."""
    cp = parse_checkpoint(SPEC_BODY)
    raw = sign_checkpoint(cp, signer=LOG, cosigners=[(W1, 1700000000), (W2, 1700000001)])
    vc = verify_checkpoint(
        raw,
        origin=ORIGIN,
        log_keys=[LOG.verifier()],
        witnesses=[W1.verifier(), W2.verifier()],
        quorum=2,
    )
    assert sorted(s.timestamp or 0 for s in vc.cosignatures) == [1700000000, 1700000001]


def test_witness_quorum_not_met() -> None:
    """One cosignature does not satisfy a quorum of two."""
    raw = sign_checkpoint(parse_checkpoint(SPEC_BODY), signer=LOG, cosigners=[(W1, 5)])
    with pytest.raises(NoteSignatureError, match="1 witness cosignatures, 2 required"):
        verify_checkpoint(
            raw,
            origin=ORIGIN,
            log_keys=[LOG.verifier()],
            witnesses=[W1.verifier(), W2.verifier()],
            quorum=2,
        )


def test_add_cosignature_appends_a_line() -> None:
    """A witness's cosignature can be added to an already signed checkpoint."""
    cp = parse_checkpoint(SPEC_BODY)
    raw = sign_checkpoint(cp, signer=LOG)
    raw2 = add_cosignature(raw, W1.sign(cp.body().encode(), timestamp=9))
    vc = verify_checkpoint(
        raw2, origin=ORIGIN, log_keys=[LOG.verifier()], witnesses=[W1.verifier()], quorum=1
    )
    assert len(vc.cosignatures) == 1
    assert add_cosignature(raw2, W1.sign(cp.body().encode(), timestamp=9)) == raw2


@settings(max_examples=80)
@given(st.data())
def test_flipping_any_byte_of_a_signed_checkpoint_fails(data: st.DataObject) -> None:
    """Changing any bit of a signed, cosigned checkpoint makes verification fail."""
    raw = sign_checkpoint(parse_checkpoint(SPEC_BODY), signer=LOG, cosigners=[(W1, 7)])
    pos = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    bit = data.draw(st.integers(min_value=0, max_value=7))
    bad = raw[:pos] + bytes([raw[pos] ^ (1 << bit)]) + raw[pos + 1 :]
    with pytest.raises((LedgerFormatError, NoteSignatureError)):
        verify_checkpoint(
            bad, origin=ORIGIN, log_keys=[LOG.verifier()], witnesses=[W1.verifier()], quorum=1
        )
