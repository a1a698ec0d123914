"""ASiC-E container structure (docs/spec/documents.md §2; EN 319 162-1 §A.1): what is
refused before any signature is looked at."""

from __future__ import annotations

import io
import zipfile

import pytest

from sild.doc.container import (
    MIMETYPE,
    Container,
    ContainerLimits,
    build_manifest,
    read_container,
    write_container,
)
from sild.errors import InvalidContainer

FILES = {"a.txt": b"alpha", "dir/b.bin": b"\x00\x01"}
TYPES = {"a.txt": "text/plain", "dir/b.bin": "application/octet-stream"}


def _zip(entries: list[tuple[str, bytes, int]], *, mimetype: bool = True,
         mimetype_extra: bytes = b"", mimetype_compressed: bool = False) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        if mimetype:
            info = zipfile.ZipInfo("mimetype")
            info.extra = mimetype_extra
            zf.writestr(info, MIMETYPE, compress_type=zipfile.ZIP_DEFLATED
                        if mimetype_compressed else zipfile.ZIP_STORED)
        for name, data, method in entries:
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return out.getvalue()


def _manifest(names: dict[str, str]) -> tuple[str, bytes, int]:
    return ("META-INF/manifest.xml", build_manifest(names), zipfile.ZIP_DEFLATED)


def test_round_trip() -> None:
    """What write_container writes, read_container reads back: files, types, order."""
    raw = write_container(Container(files=FILES, mimetypes=TYPES))
    c = read_container(raw)
    assert c.files == FILES
    assert list(c.files) == list(FILES)
    assert c.mimetypes == TYPES
    first = zipfile.ZipFile(io.BytesIO(raw)).infolist()[0]
    assert (first.filename, first.compress_type, first.extra) == ("mimetype", 0, b"")


def test_missing_mimetype_is_refused() -> None:
    """No mimetype entry first → not ASiC-E."""
    raw = _zip([_manifest({"a.txt": "text/plain"}), ("a.txt", b"x", zipfile.ZIP_STORED)],
               mimetype=False)
    with pytest.raises(InvalidContainer, match="first entry is not 'mimetype'"):
        read_container(raw)


def test_compressed_mimetype_is_refused() -> None:
    """EN 319 162-1 §A.1: mimetype must be stored."""
    raw = _zip([_manifest({})], mimetype_compressed=True)
    with pytest.raises(InvalidContainer, match="compressed"):
        read_container(raw)


def test_mimetype_with_extra_field_is_refused() -> None:
    """EN 319 162-1 §A.1: no extra field on mimetype (its bytes sit at offset 38)."""
    raw = _zip([_manifest({})], mimetype_extra=b"\xfe\xca\x00\x00")
    with pytest.raises(InvalidContainer, match="extra field"):
        read_container(raw)


def test_wrong_mimetype_is_refused() -> None:
    """An ASiC-S or ODF mimetype is not ASiC-E."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("mimetype", b"application/vnd.etsi.asic-s+zip")
        zf.writestr("META-INF/manifest.xml", build_manifest({}))
    with pytest.raises(InvalidContainer, match=r"not application/vnd\.etsi\.asic-e"):
        read_container(out.getvalue())


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/passwd", "a/../../b", "C:/x.txt",
                                  "a\\..\\b", "x/./y", "tab\tname"])
def test_unsafe_names_are_refused(name: str) -> None:
    """Path traversal, absolute paths, backslashes and control characters."""
    raw = _zip([_manifest({name: "text/plain"}), (name, b"x", zipfile.ZIP_STORED)])
    with pytest.raises(InvalidContainer, match="unsafe entry name"):
        read_container(raw)


def test_duplicate_names_are_refused() -> None:
    """Two entries with one name: which one was signed would be ambiguous."""
    with pytest.warns(UserWarning, match="Duplicate name"):
        raw = _zip([_manifest({"a.txt": "text/plain"}), ("a.txt", b"1", zipfile.ZIP_STORED),
                    ("a.txt", b"2", zipfile.ZIP_STORED)])
    with pytest.raises(InvalidContainer, match="duplicate entry name"):
        read_container(raw)


def test_duplicate_names_after_nfc_are_refused() -> None:
    """'ö' composed and decomposed are one name to a person."""
    raw = _zip([_manifest({"\u00f6.txt": "text/plain", "o\u0308.txt": "text/plain"}),
                ("\u00f6.txt", b"1", zipfile.ZIP_STORED),
                ("o\u0308.txt", b"2", zipfile.ZIP_STORED)])
    with pytest.raises(InvalidContainer, match="duplicate entry name"):
        read_container(raw)


def test_zip_bomb_is_refused_by_ratio() -> None:
    """16 MiB of zeros deflate ~1000:1: refused from the header, before inflating."""
    raw = _zip([_manifest({"z.bin": "application/octet-stream"}),
                ("z.bin", bytes(16 * 1024 * 1024), zipfile.ZIP_DEFLATED)])
    with pytest.raises(InvalidContainer, match="zip bomb"):
        read_container(raw)


def test_total_size_limit() -> None:
    """Declared sizes beyond the limit are refused before reading."""
    raw = _zip([_manifest({"a.bin": "x/y"}), ("a.bin", bytes(4096), zipfile.ZIP_STORED)])
    with pytest.raises(InvalidContainer, match="size limit"):
        read_container(raw, limits=ContainerLimits(max_entry=1024))


def test_lying_header_stops_at_declared_size() -> None:
    """An entry whose header understates its size is refused (bounded inflate + CRC)."""
    raw = bytearray(_zip([_manifest({"a.txt": "text/plain"}),
                          ("a.txt", b"A" * 5000, zipfile.ZIP_DEFLATED)]))
    # Patch the central directory's uncompressed size of a.txt to 10 bytes.
    cd = raw.rfind(b"PK\x01\x02")
    assert raw[cd + 46:cd + 51] == b"a.txt"
    raw[cd + 24:cd + 28] = (10).to_bytes(4, "little")
    with pytest.raises(InvalidContainer):
        read_container(bytes(raw))


def test_not_a_zip() -> None:
    """Random bytes are refused with a clear message."""
    with pytest.raises(InvalidContainer, match="not a zip"):
        read_container(b"%PDF-1.7 not a container")


def test_manifest_must_list_every_file() -> None:
    """A file added without a manifest entry (or listed but missing) is refused."""
    raw = _zip([_manifest({"a.txt": "text/plain"}), ("a.txt", b"x", zipfile.ZIP_STORED),
                ("added.exe", b"MZ", zipfile.ZIP_STORED)])
    with pytest.raises(InvalidContainer, match=r"not in the manifest: added\.exe"):
        read_container(raw)


def test_missing_manifest() -> None:
    """BDOC 2.1 §2.2: the manifest is mandatory."""
    raw = _zip([("a.txt", b"x", zipfile.ZIP_STORED)])
    with pytest.raises(InvalidContainer, match=r"no META-INF/manifest\.xml"):
        read_container(raw)


def test_manifest_with_entities_is_not_expanded() -> None:
    """An XML bomb in the manifest does not expand (entities are not resolved)."""
    bomb = (b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            b'<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:'
            b'manifest:1.0"><manifest:file-entry manifest:full-path="&b;" '
            b'manifest:media-type="text/plain"/></manifest:manifest>')
    raw = _zip([("META-INF/manifest.xml", bomb, zipfile.ZIP_STORED)])
    with pytest.raises(InvalidContainer):
        read_container(raw)
