"""Malformed input to `sild embassy`: one line on stderr and the documented exit code,
never a traceback; a signed payload that tries to escape the target is refused."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from sild.cli import main
from sild.embassy import FolderSite, load_key
from sild.embassy.manifest import Manifest, sign_manifest
from sild.embassy.stream import ChunkWriter

from .conftest import Site


def _fails(capsys: pytest.CaptureFixture[str], argv: list[str], code: int, match: str) -> None:
    try:
        got = main(argv)
    except SystemExit as e:  # argparse's usage errors
        got = int(e.code or 0)
    assert got == code
    err = capsys.readouterr().err
    assert match in err, err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_bad_backup_arguments(gateway: Path, site: Site, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    """Not a role folder, a binary key, a bad recipient, a silly chunk size."""
    base = ["embassy", "backup", "--site", str(site.folder), "--key", str(site.home_key)]
    _fails(capsys, [*base, "--dir", str(tmp_path / "nothing")], 1, "not a folder")
    _fails(capsys, [*base, "--dir", str(site.root / "keys")], 1, "is not a gateway, instance")
    binary = tmp_path / "bin.key"
    binary.write_bytes(b"\x00\x01\xff")
    _fails(capsys, ["embassy", "backup", "--dir", str(gateway), "--site", str(site.folder),
                    "--key", str(binary)], 1, "binary")
    _fails(capsys, [*base, "--dir", str(gateway), "--recipient", "age1nonsense"], 1,
           "not an age X25519 recipient")
    _fails(capsys, [*base, "--dir", str(gateway), "--chunk-mib", "0"], 2, "must be 1 to 1024")
    _fails(capsys, ["embassy", "keygen", "--name", "a b", "--out", str(tmp_path)], 1, "--name")
    assert not site.folder.exists() or list(site.folder.iterdir()) == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_bad_restore_arguments(gateway: Path, site: Site, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    """Unknown snapshot, missing site, garbage manifest, missing chunk, wrong --database."""
    assert main(["embassy", "backup", "--dir", str(gateway), "--site", str(site.folder),
                 "--key", str(site.home_key)]) == 0
    sid = FolderSite(site.folder).ids()[0]
    capsys.readouterr()
    r = ["embassy", "restore", "--trust", str(site.home_pub), "--identity",
         str(site.home_key), "--to", str(tmp_path / "fresh")]
    _fails(capsys, [*r, "--site", str(site.folder), "20990101T000000Z-00000000"], 1,
           "no snapshot")
    _fails(capsys, [*r, "--site", str(tmp_path / "nowhere"), "latest"], 1, "not a folder")
    _fails(capsys, [*r, "--site", str(site.folder), sid, "--database",
                    "postgresql://x@127.0.0.1/y"], 1, "SQLite image")
    _fails(capsys, [*r, "--site", str(site.folder), sid, "--database", "nosuch=sqlite:///x"],
           1, "the snapshot has no such database")
    chunk = site.folder / sid / "chunks" / "000000.age"
    saved = chunk.read_bytes()
    chunk.unlink()
    _fails(capsys, [*r, "--site", str(site.folder), sid], 2, "chunk files do not match")
    chunk.write_bytes(saved)
    (site.folder / sid / "manifest.note").write_bytes(b"\x00\xffgarbage")
    _fails(capsys, [*r, "--site", str(site.folder), sid], 2, "manifest")
    assert not (tmp_path / "fresh").exists()


META = b'{"kind":"gateway","created_at":"x","source":"x","files":[],"databases":[]}'


def _signed(site: Site, payload: bytes | list[tuple[str, bytes]]) -> str:
    """A snapshot correctly encrypted and signed by the trusted site, holding ``payload``
    (raw bytes, or tar members): what only a compromised or buggy site could make."""
    key = load_key(site.home_key)
    fs = FolderSite.open(site.folder, create=True)
    sid = "20261206T120000Z-00c0ffee"
    w = fs.writer(sid)
    out = ChunkWriter(w, [key.identity.to_public()])
    if isinstance(payload, bytes):
        out.write(payload)
    else:
        with tarfile.open(fileobj=out, mode="w|",  # type: ignore[call-overload]
                          format=tarfile.PAX_FORMAT) as tar:
            for n, data in payload:
                info = tarfile.TarInfo(n)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    m = Manifest(sid, "gateway", "x", "x", (), tuple(out.finish()))
    w.commit(sign_manifest(m, signer=key.signer))
    return sid


@pytest.mark.parametrize(("payload", "match"), [
    ([("snapshot.json", META), ("files/../../escaped", b"pwned")], "unsafe path"),
    ([("snapshot.json", META), ("/etc/escaped", b"pwned")], "unsafe path"),
    ([("snapshot.json", META), ("elsewhere/x", b"pwned")], "unsafe path"),
    ([("snapshot.json", META), ("files/a", b"1"), ("files/a", b"2")], "appears twice"),
    ([("files/a", b"1")], "does not start with snapshot.json"),
    ([("snapshot.json", b"{not json")], "malformed snapshot.json"),
    ([("snapshot.json", b'{"kind":"gateway","databases":[{"name":1}]}')],
     "malformed snapshot.json"),
    ([("snapshot.json", META.replace(b'"gateway"', b'"ledger"'))], "kind differs"),
    (b"not a tar at all" * 100, "not a valid tar stream"),
])
def test_signed_but_broken_payload_is_refused(
        site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        payload: bytes | list[tuple[str, bytes]], match: str) -> None:
    """Even a correctly signed payload cannot write outside the target, and a broken one
    is one line (exit 2), never a traceback; nothing is left behind."""
    sid = _signed(site, payload)
    to = tmp_path / "deep" / "fresh"
    to.parent.mkdir()
    _fails(capsys, ["embassy", "restore", "--site", str(site.folder), sid, "--trust",
                    str(site.home_pub), "--identity", str(site.home_key), "--to", str(to)],
           2, match)
    assert not to.exists()
    assert not (tmp_path / "escaped").exists()
    assert list(to.parent.iterdir()) == []
