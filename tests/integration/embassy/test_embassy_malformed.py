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


@pytest.mark.parametrize("name", ["files/../../escaped", "/etc/escaped", "elsewhere/x"])
def test_signed_payload_escaping_the_target_is_refused(
        site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    """Even a correctly signed payload cannot write outside the target (tar traversal)."""
    key = load_key(site.home_key)
    fs = FolderSite.open(site.folder, create=True)
    sid = "20261206T120000Z-00c0ffee"
    w = fs.writer(sid)
    out = ChunkWriter(w, [key.identity.to_public()])
    meta = (b'{"kind":"gateway","created_at":"x","source":"x","files":[],"databases":[]}')
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        for n, data in (("snapshot.json", meta), (name, b"pwned")):
            info = tarfile.TarInfo(n)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    m = Manifest(sid, "gateway", "x", "x", (), tuple(out.finish()))
    w.commit(sign_manifest(m, signer=key.signer))
    to = tmp_path / "deep" / "fresh"
    to.parent.mkdir()
    _fails(capsys, ["embassy", "restore", "--site", str(site.folder), sid, "--trust",
                    str(site.home_pub), "--identity", str(site.home_key), "--to", str(to)],
           2, "unsafe path in the payload")
    assert not to.exists()
    assert not (tmp_path / "escaped").exists()
    assert list(to.parent.iterdir()) == []
