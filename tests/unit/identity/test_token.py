"""The soft token: two PINs, a PUK, attempt counters (docs/spec/identity.md §3)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sild.core import personal_code as pc
from sild.crypto.keys import KeyType, generate_key, verify
from sild.errors import InvalidRequest, KeyFileError, PinBlocked, PinError
from sild.identity.person_ca import PersonCA
from sild.identity.profiles import CertRole, PersonName
from sild.identity.token import KdfParams, Pins, Secret, SoftToken
from sild.testing.clock import FIXED_NOW

from .conftest import FAST_KDF

PINS = Pins("1234", "12345", "12345678")


def make_token(path: Path, ca: PersonCA, kdf: KdfParams = FAST_KDF,
               key_type: KeyType = KeyType.P256) -> SoftToken:
    code = pc.parse("EE", "38001085718")
    name = PersonName.parse("Mari", "Tamm")
    auth, sig = generate_key(key_type), generate_key(key_type)
    return SoftToken.create(
        path, token_id="t1", auth_key=auth, sign_key=sig, pins=PINS, kdf=kdf,
        auth_certificate=ca.issue(role=CertRole.AUTH, code=code, name=name,
                                  public_key=auth.public_key(), at=FIXED_NOW),
        sign_certificate=ca.issue(role=CertRole.SIGN, code=code, name=name,
                                  public_key=sig.public_key(), at=FIXED_NOW),
    )


@pytest.fixture
def token(tmp_path: Path, person_ca: PersonCA) -> SoftToken:
    return make_token(tmp_path / "card.token", person_ca)


def test_pin1_unlocks_the_auth_key_and_pin2_the_sign_key(token: SoftToken) -> None:
    """PIN1 signs with the authentication key, PIN2 with the signing key (§3.1)."""
    data = b"challenge"
    verify(public_key=token.certificate("auth").public_key(),  # type: ignore[arg-type]
           signature=token.authenticate(pin1="1234", data=data), data=data)
    verify(public_key=token.certificate("sign").public_key(),  # type: ignore[arg-type]
           signature=token.sign(pin2="12345", data=data), data=data)


def test_pin1_does_not_open_the_sign_key(token: SoftToken) -> None:
    """PIN1 given as PIN2 is a wrong PIN2 and costs a PIN2 try (the roles are apart)."""
    with pytest.raises(PinError, match="wrong PIN2; 2 tries left"):
        token.sign(pin2="12340", data=b"x")
    assert token.tries_left(Secret.PIN2) == 2
    assert token.tries_left(Secret.PIN1) == 3


def test_three_wrong_pins_block(token: SoftToken) -> None:
    """The third wrong PIN blocks it; then even the right PIN is refused (§3.2)."""
    for left in (2, 1):
        with pytest.raises(PinError, match=f"{left} tries left") as e:
            token.authenticate(pin1="0000", data=b"x")
        assert e.value.fields["tries_left"] == left
    with pytest.raises(PinBlocked, match="now blocked"):
        token.authenticate(pin1="0000", data=b"x")
    with pytest.raises(PinBlocked, match="unblock it with the PUK"):
        token.authenticate(pin1="1234", data=b"x")


def test_a_right_pin_resets_the_counter(token: SoftToken) -> None:
    """After two wrong tries a right PIN restores all three tries."""
    for _ in range(2):
        with pytest.raises(PinError):
            token.authenticate(pin1="0000", data=b"x")
    token.authenticate(pin1="1234", data=b"x")
    assert token.tries_left(Secret.PIN1) == 3


def test_counters_persist_across_reopen(token: SoftToken) -> None:
    """Closing and reopening the token does not restore tries (§3.2)."""
    with pytest.raises(PinError):
        token.sign(pin2="00000", data=b"x")
    assert SoftToken.open(token.path).tries_left(Secret.PIN2) == 2


def test_a_crash_during_the_try_keeps_the_attempt_counted(
        token: SoftToken, monkeypatch: pytest.MonkeyPatch) -> None:
    """The counter is decremented on disk before the PIN is tried (§3.2)."""

    def crash(self: KdfParams, secret: str, salt: bytes) -> bytes:
        raise KeyboardInterrupt  # the process dies while deriving

    monkeypatch.setattr(KdfParams, "derive", crash)
    with pytest.raises(KeyboardInterrupt):
        token.authenticate(pin1="1234", data=b"x")
    monkeypatch.undo()
    assert SoftToken.open(token.path).tries_left(Secret.PIN1) == 2


def test_puk_unblocks_and_sets_a_new_pin(token: SoftToken) -> None:
    """The PUK unblocks a blocked PIN with a new value; the old one no longer works (§3.3)."""
    for _ in range(3):
        with pytest.raises(PinError):
            token.authenticate(pin1="0000", data=b"x")
    token.unblock(Secret.PIN1, puk="12345678", new_pin="9876")
    assert token.tries_left(Secret.PIN1) == 3
    token.authenticate(pin1="9876", data=b"x")
    with pytest.raises(PinError):
        token.authenticate(pin1="1234", data=b"x")


def test_puk_unblocks_pin2_too(token: SoftToken) -> None:
    """The PUK also unblocks PIN2, and the signing key is the same key afterwards."""
    before = token.certificate("sign").public_key()
    token.unblock(Secret.PIN2, puk="12345678", new_pin="55555")
    assert token.signing_key(pin2="55555").public_key() == before


def test_wrong_puk_three_times_is_final(token: SoftToken) -> None:
    """Three wrong PUKs block the PUK for good; nothing unblocks it (§3.3)."""
    for _ in range(3):
        with pytest.raises(PinError):
            token.unblock(Secret.PIN1, puk="00000000", new_pin="1111")
    with pytest.raises(PinBlocked, match="PUK is blocked"):
        token.unblock(Secret.PIN1, puk="12345678", new_pin="1111")
    token.authenticate(pin1="1234", data=b"x")  # PIN1 itself still works


def test_change_pin_needs_the_old_one(token: SoftToken) -> None:
    """Changing PIN2 proves the old PIN2; a wrong one counts as a try."""
    with pytest.raises(PinError):
        token.change_pin(Secret.PIN2, old="99999", new="22222")
    token.change_pin(Secret.PIN2, old="12345", new="22222")
    token.sign(pin2="22222", data=b"x")


def test_the_puk_cannot_be_changed_or_unblocked(token: SoftToken) -> None:
    """Only PIN1 and PIN2 change; the PUK is used, never changed."""
    with pytest.raises(InvalidRequest):
        token.change_pin(Secret.PUK, old="12345678", new="87654321")
    with pytest.raises(InvalidRequest):
        token.unblock(Secret.PUK, puk="12345678", new_pin="87654321")


@pytest.mark.parametrize("bad", ["123", "1234567890123", "12a4", "", None, 1234, "١٢٣٤"])
def test_malformed_pin_is_refused_without_counting(token: SoftToken, bad: object) -> None:
    """A PIN that is not 4-12 ASCII digits is refused and costs no try."""
    with pytest.raises(InvalidRequest, match="PIN1 must be 4-12 digits"):
        token.authenticate(pin1=bad, data=b"x")  # type: ignore[arg-type]
    assert token.tries_left(Secret.PIN1) == 3


@pytest.mark.parametrize(("pins", "which"), [(("123", "12345", "12345678"), "PIN1"),
                                             (("1234", "1234", "12345678"), "PIN2"),
                                             (("1234", "12345", "1234567"), "PUK")])
def test_pin_lengths_follow_the_id_card(pins: tuple[str, str, str], which: str) -> None:
    """PIN1 4-12, PIN2 5-12 and PUK 8-12 digits (§3.1)."""
    with pytest.raises(InvalidRequest, match=which):
        Pins(*pins)


def test_secrets_are_not_in_the_file_or_repr(token: SoftToken) -> None:
    """Neither the PINs nor the private keys appear in clear in the token file or repr."""
    raw = token.path.read_bytes()
    assert b"PRIVATE KEY" not in raw

    def leaves(v: object) -> list[str]:
        if isinstance(v, dict):
            return [x for w in v.values() for x in leaves(w)]
        return [str(v)]

    values = leaves(json.loads(raw))
    assert not {"1234", "12345", "12345678"} & set(values)
    assert not any(s in v for v in values for s in ('"pin', "pin1="))
    assert "1234" not in repr(PINS)
    assert token.path.stat().st_mode & 0o777 == 0o600


def test_random_pins_are_well_formed() -> None:
    """A generated PIN envelope has 4-, 5- and 8-digit secrets, different each time."""
    a, b = Pins.random(), Pins.random()
    assert (len(a.pin1), len(a.pin2), len(a.puk)) == (4, 5, 8)
    assert (a.pin1, a.pin2, a.puk) != (b.pin1, b.pin2, b.puk)


def test_pins_file_format() -> None:
    """A pins file is three lines PIN1, PIN2, PUK; anything else is refused."""
    assert Pins.parse_lines("1234\n12345\n12345678\n") == PINS
    with pytest.raises(InvalidRequest, match="three lines"):
        Pins.parse_lines("1234\n12345\n")


def test_refuses_to_overwrite(token: SoftToken, person_ca: PersonCA) -> None:
    """Creating a token over an existing file is refused (nothing is lost)."""
    with pytest.raises(KeyFileError, match="exists"):
        make_token(token.path, person_ca)


@pytest.mark.parametrize("content", [b"", b"\x00\xff\xfe", b"{}", b"[1,2]",
                                     b'{"format": "sild-soft-token/1"}'])
def test_malformed_token_files(tmp_path: Path, content: bytes) -> None:
    """Empty, binary or foreign JSON token files are a one-line KeyFileError."""
    p = tmp_path / "bad.token"
    p.write_bytes(content)
    with pytest.raises(KeyFileError, match="not a Sild soft token"):
        SoftToken.open(p)


def test_missing_and_folder_token(tmp_path: Path) -> None:
    """A missing path or a folder is a KeyFileError naming the path."""
    with pytest.raises(KeyFileError, match="cannot read"):
        SoftToken.open(tmp_path / "none.token")
    with pytest.raises(KeyFileError, match="folder"):
        SoftToken.open(tmp_path)


def test_swapped_wrapped_keys_do_not_open(token: SoftToken) -> None:
    """A KEK wrapped for PIN2 pasted into PIN1's slot does not decrypt (AAD binds slots)."""
    data = json.loads(token.path.read_bytes())
    data["slots"]["pin1"]["wrapped"]["auth"] = data["slots"]["pin2"]["wrapped"]["sign"]
    data["slots"]["pin1"]["salt"] = data["slots"]["pin2"]["salt"]
    token.path.write_text(json.dumps(data))
    with pytest.raises(PinError):
        token.authenticate(pin1="12345", data=b"x")


def test_default_kdf_cost(tmp_path: Path, person_ca: PersonCA) -> None:
    """The default scrypt cost (n=2^15) is what a new token records and costs ≥ 20 ms a try."""
    tok = make_token(tmp_path / "slow.token", person_ca, kdf=KdfParams())
    assert json.loads(tok.path.read_bytes())["kdf"] == {"name": "scrypt", "n": 2**15, "r": 8,
                                                        "p": 1}
    t = time.perf_counter()
    with pytest.raises(PinError):
        tok.authenticate(pin1="0000", data=b"x")
    assert time.perf_counter() - t > 0.02


def test_ed25519_token(tmp_path: Path, person_ca: PersonCA) -> None:
    """Ed25519 keys work in a token as well as P-256."""
    tok = make_token(tmp_path / "ed.token", person_ca, key_type=KeyType.ED25519)
    sig = tok.sign(pin2="12345", data=b"doc")
    verify(public_key=tok.certificate("sign").public_key(),  # type: ignore[arg-type]
           signature=sig, data=b"doc")


@settings(max_examples=60)
@given(st.data())
def test_flipping_any_ciphertext_byte_never_yields_a_key(tmp_path_factory: pytest.TempPathFactory,
                                                         data: st.DataObject) -> None:
    """Flip any byte of a wrapped KEK or sealed key: a clear refusal, never a key or a crash."""
    import base64

    from sild.ca import CertificateAuthority
    from sild.crypto.keys import load_private_key

    tmp = tmp_path_factory.mktemp("flip")
    root = CertificateAuthority.create(tmp / "root", name="R", at=FIXED_NOW)
    ca = PersonCA.create(tmp / "pca", root_certificate=root.certificate,
                         root_key=load_private_key(tmp / "root" / "ca.key"), name="P",
                         at=FIXED_NOW)
    tok = make_token(tmp / "t.token", ca)
    doc = json.loads(tok.path.read_bytes())
    box = data.draw(st.sampled_from([doc["slots"]["pin1"]["wrapped"]["auth"], doc["keys"]["auth"]]))
    field = data.draw(st.sampled_from(["nonce", "ct"]))
    raw = bytearray(base64.b64decode(box[field]))
    i = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    raw[i] ^= data.draw(st.integers(min_value=1, max_value=255))
    box[field] = base64.b64encode(bytes(raw)).decode()
    tok.path.write_text(json.dumps(doc))
    with pytest.raises((PinError, KeyFileError)):
        tok.authentication_key(pin1="1234")


def test_damaged_token_is_a_key_file_error(token: SoftToken) -> None:
    """Bad base64 or a missing box inside a token is KeyFileError, not a traceback."""
    data = json.loads(token.path.read_bytes())
    data["slots"]["pin1"]["salt"] = "***"
    token.path.write_text(json.dumps(data))
    with pytest.raises(KeyFileError, match="damaged"):
        token.authenticate(pin1="1234", data=b"x")
    data["slots"]["pin1"]["salt"] = data["slots"]["pin2"]["salt"]
    del data["keys"]["sign"]
    token.path.write_text(json.dumps(data))
    with pytest.raises(KeyFileError, match="damaged"):
        token.sign(pin2="12345", data=b"x")
