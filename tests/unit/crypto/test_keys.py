"""Key files, key ids and signatures."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from sild.crypto.keys import (
    KeyType,
    generate_key,
    key_id,
    load_private_key,
    save_private_key,
    sign,
    verify,
)
from sild.errors import KeyFileError, SignatureError


@pytest.mark.parametrize("key_type", list(KeyType))
def test_sign_verify_and_tamper(key_type: KeyType) -> None:
    """A signature verifies for its data and not for one flipped bit."""
    key = generate_key(key_type)
    sig = sign(key=key, data=b"hello")
    verify(public_key=key.public_key(), signature=sig, data=b"hello")
    with pytest.raises(SignatureError):
        verify(public_key=key.public_key(), signature=sig, data=b"hellp")


@pytest.mark.parametrize("key_type", list(KeyType))
def test_key_file_is_0600_and_round_trips(tmp_path: Path, key_type: KeyType) -> None:
    """Private key files are written 0600 and load back to the same key."""
    key = generate_key(key_type)
    path = tmp_path / "k.key"
    save_private_key(path, key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key_id(load_private_key(path).public_key()) == key_id(key.public_key())


def test_passphrase_encrypts_at_rest(tmp_path: Path) -> None:
    """With a passphrase the PEM is encrypted and needs the passphrase to load."""
    key = generate_key(KeyType.ED25519)
    path = tmp_path / "k.key"
    save_private_key(path, key, passphrase=b"correct horse")
    assert b"ENCRYPTED" in path.read_bytes()
    assert key_id(load_private_key(path, passphrase=b"correct horse").public_key()) == key_id(
        key.public_key()
    )
    with pytest.raises(KeyFileError, match="encrypted; give its passphrase"):
        load_private_key(path)
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        load_private_key(path, passphrase=b"wrong")


def test_unreadable_and_garbage_key_files(tmp_path: Path) -> None:
    """Missing or garbage key files give a KeyFileError naming the file."""
    with pytest.raises(KeyFileError, match="cannot read"):
        load_private_key(tmp_path / "missing.key")
    bad = tmp_path / "bad.key"
    bad.write_text("not a key")
    with pytest.raises(KeyFileError, match="not a PEM private key"):
        load_private_key(bad)


def test_key_ids_differ_between_keys() -> None:
    """Two keys never share an id; the id is stable for one key."""
    a, b = generate_key(KeyType.ED25519), generate_key(KeyType.ED25519)
    assert key_id(a.public_key()) == key_id(a.public_key())
    assert key_id(a.public_key()) != key_id(b.public_key())
