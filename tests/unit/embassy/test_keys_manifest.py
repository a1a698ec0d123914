"""Embassy keys, the signed manifest and the encrypted chunk stream (pure and local)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sild.embassy.keys import generate, load_key, load_public, write_new
from sild.embassy.manifest import Chunk, Manifest, sign_manifest, verify_manifest
from sild.embassy.site import FolderSite
from sild.embassy.stream import ChunkReader, ChunkWriter
from sild.errors import ConfigurationError, KeyFileError, SnapshotInvalid

KEY = generate("home")
OTHER = generate("other")
MANIFEST = Manifest(id="20261206T120000Z-0123abcd", kind="gateway",
                    created_at="2026-12-06T12:00:00+00:00", source="gw",
                    recipients=(str(KEY.public().recipient),),
                    chunks=(Chunk("ab" * 32, 100), Chunk("cd" * 32, 7)))
SIGNED = sign_manifest(MANIFEST, signer=KEY.signer)


def test_key_files_round_trip(tmp_path: Path) -> None:
    """keygen's files load back: the secret one 0600, the public one with both halves."""
    secret, public = write_new(tmp_path, KEY)
    assert secret.stat().st_mode & 0o777 == 0o600
    assert load_key(secret).signer.verifier().vkey() == KEY.signer.verifier().vkey()
    pub = load_public(public)
    assert pub.recipient_text == str(KEY.identity.to_public())
    assert pub.verifier.vkey() == KEY.signer.verifier().vkey()
    assert "AGE-SECRET" not in public.read_text()
    assert repr(KEY) == "SiteKey('home')"


def test_keygen_never_overwrites(tmp_path: Path) -> None:
    """A second keygen of the same name refuses, and the first key stays."""
    secret, _ = write_new(tmp_path, KEY)
    before = secret.read_bytes()
    with pytest.raises(ConfigurationError, match="exists"):
        write_new(tmp_path, generate("home"))
    assert secret.read_bytes() == before


@pytest.mark.parametrize("content", [b"\x00\xff\x10binary", b"", b"age1abc\n",
                                     b"AGE-SECRET-KEY-1XYZ\nPRIVATE+KEY+x+00000000+AAAA\n"])
def test_malformed_key_files_are_key_errors(tmp_path: Path, content: bytes) -> None:
    """Binary, empty, public-only or garbled key files: KeyFileError, never a traceback."""
    path = tmp_path / "k"
    path.write_bytes(content)
    with pytest.raises(KeyFileError):
        load_key(path)


def test_manifest_verifies_with_the_site_key() -> None:
    """sign → verify gives the manifest back and names the signer."""
    v = verify_manifest(SIGNED, trusted=[KEY.signer.verifier()])
    assert v.manifest == MANIFEST
    assert v.signer == "home"


def test_manifest_of_an_untrusted_site_is_refused() -> None:
    """Only the trusted keys count: another site's valid signature is refused."""
    with pytest.raises(SnapshotInvalid, match="not signed by a trusted site key"):
        verify_manifest(SIGNED, trusted=[OTHER.signer.verifier()])


@given(st.data())
def test_any_flipped_byte_is_refused(data: st.DataObject) -> None:
    """Flip any bit of the signed manifest → SnapshotInvalid (never accepted, no crash)."""
    i = data.draw(st.integers(0, len(SIGNED) - 1))
    bit = data.draw(st.integers(0, 7))
    raw = bytearray(SIGNED)
    raw[i] ^= 1 << bit
    with pytest.raises(SnapshotInvalid):
        verify_manifest(bytes(raw), trusted=[KEY.signer.verifier()])


@pytest.mark.parametrize("text", [
    "sild-embassy-snapshot/1\nnot json\n",
    "sild-embassy-snapshot/2\n{}\n",
    'sild-embassy-snapshot/1\n{"chunks":[],"created_at":"x","id":"20261206T120000Z-0123abcd",'
    '"kind":"gateway","recipients":[],"source":"gw"}\n',
    'sild-embassy-snapshot/1\n{"chunks":[["zz",1]],"created_at":"x","id":"../x",'
    '"kind":"gateway","recipients":[],"source":"gw"}\n',
])
def test_signed_but_malformed_manifests_are_refused(text: str) -> None:
    """A correctly signed manifest that is not a valid one is still refused."""
    from sild.core.note import sign_note

    with pytest.raises(SnapshotInvalid):
        verify_manifest(sign_note(text, signer=KEY.signer), trusted=[KEY.signer.verifier()])


@given(payload=st.binary(max_size=5000), chunk=st.integers(1, 700))
def test_chunk_stream_round_trip(tmp_path_factory: pytest.TempPathFactory, payload: bytes,
                                 chunk: int) -> None:
    """Whatever the payload and chunk size, reading the chunks back gives the payload."""
    site = FolderSite(tmp_path_factory.mktemp("site"))
    w = site.writer("20261206T120000Z-0123abcd")
    out = ChunkWriter(w, [KEY.identity.to_public()], chunk)
    for i in range(0, len(payload), 333):
        out.write(payload[i:i + 333])
    chunks = out.finish()
    m = Manifest("20261206T120000Z-0123abcd", "gateway", "t", "gw", (), tuple(chunks))
    w.commit(sign_manifest(m, signer=KEY.signer))
    v = verify_manifest(site.manifest(m.id), trusted=[KEY.signer.verifier()])
    reader = io.BufferedReader(ChunkReader(site, v, [KEY.identity], chunk + 4096))
    assert reader.read() == payload
    assert len(chunks) == max(1, -(-len(payload) // chunk))
