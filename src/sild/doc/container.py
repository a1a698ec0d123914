"""ASiC-E containers: read and write the zip (ETSI EN 319 162-1 §4.4, §A.1; BDOC 2.1 §2).

docs/spec/documents.md §2. A container is a zip whose

1. first entry is ``mimetype``, STORED (not compressed), without an extra field, holding
   exactly ``application/vnd.etsi.asic-e+zip`` (EN 319 162-1 §A.1);
2. ``META-INF/manifest.xml`` lists every data file (OpenDocument manifest, BDOC 2.1 §2.2);
3. ``META-INF/*signatures*.xml`` each hold one XAdES signature (EN 319 162-1 §4.4.3);
4. every other entry outside ``META-INF/`` is a data file.

Reading is bounded: entry count, each entry's and the total uncompressed size, and the
compression ratio are limited *before* and *while* inflating (a zip bomb stops at the
limit, zipfile checks the CRC at the end). Names are checked before anything is read:
no absolute paths, no ``..``, no backslashes or control characters, no duplicates (also
after Unicode NFC). Pure: bytes in, :class:`Container` out; the caller reads the file.
"""

from __future__ import annotations

import io
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from xml.sax.saxutils import quoteattr

from lxml import etree

from sild.errors import InvalidContainer

__all__ = [
    "MIMETYPE",
    "Container",
    "ContainerLimits",
    "read_container",
    "write_container",
]

MIMETYPE = b"application/vnd.etsi.asic-e+zip"
MANIFEST = "META-INF/manifest.xml"
MANIFEST_NS = "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"


@dataclass(frozen=True, slots=True)
class ContainerLimits:
    """What a container may hold, each with its reason."""

    # The zip itself: read whole into memory, so bounded like any upload.
    max_container: int = 1024 * 1024 * 1024
    # DigiDoc containers hold a handful of files; thousands of entries only cost time.
    max_entries: int = 10_000
    # Uncompressed bytes of one entry and of all entries: a bomb stops here.
    max_entry: int = 1024 * 1024 * 1024
    max_total: int = 2 * 1024 * 1024 * 1024
    # Ratio uncompressed/compressed above which an entry larger than 1 MiB is a bomb
    # (text compresses ~10x, a run of zeros ~1000x; DigiDoc tests reach ~50x).
    max_ratio: int = 200
    # A signatures*.xml or manifest.xml: XML that we parse; a large one is an attack.
    max_xml: int = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Container:
    """A parsed container: data files by name (zip order), signature files by name."""

    files: dict[str, bytes]
    signatures: dict[str, bytes] = field(default_factory=dict)
    mimetypes: dict[str, str] = field(default_factory=dict)  # from the manifest
    manifest: bytes | None = None


def _check_name(name: str) -> str:
    """An entry name that is safe to show and to resolve (documents.md §2.2)."""
    if not name or len(name) > 1024:
        raise InvalidContainer("an entry name is empty or too long")
    if (name.startswith("/") or "\\" in name or any(unicodedata.category(c) == "Cc"
                                                    for c in name)):
        raise InvalidContainer(f"unsafe entry name {name!r}")
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts[:-1]) or parts[-1] in (".", "..") or \
            (len(parts[0]) >= 2 and parts[0][1] == ":"):
        raise InvalidContainer(f"unsafe entry name {name!r} (path traversal)")
    return name


def read_container(data: bytes, *, limits: ContainerLimits = ContainerLimits()) -> Container:
    """Parse an ASiC-E container (module docstring, steps 1-4); raises InvalidContainer."""
    if len(data) > limits.max_container:
        raise InvalidContainer(f"the container is larger than {limits.max_container} bytes")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError, NotImplementedError) as e:
        raise InvalidContainer(f"not a zip container: {e}") from e
    if len(infos) > limits.max_entries:
        raise InvalidContainer(f"the container has more than {limits.max_entries} entries")
    # (1) mimetype first, stored, no extra field, the ASiC-E type.
    if not infos or infos[0].filename != "mimetype":
        raise InvalidContainer("the first entry is not 'mimetype' (EN 319 162-1 §A.1)")
    first = infos[0]
    if first.compress_type != zipfile.ZIP_STORED:
        raise InvalidContainer("'mimetype' is compressed; it must be stored (EN 319 162-1 §A.1)")
    if first.extra:
        raise InvalidContainer("'mimetype' has an extra field (EN 319 162-1 §A.1)")
    # Names: safe, unique (also as NFC and without case tricks on the META-INF folder).
    seen: set[str] = set()
    for info in infos:
        name = _check_name(info.filename)
        key = unicodedata.normalize("NFC", name)
        if key in seen:
            raise InvalidContainer(f"duplicate entry name {name!r}")
        seen.add(key)
        if info.flag_bits & 0x1:
            raise InvalidContainer(f"entry {name!r} is encrypted")
    # Sizes as declared; checked again while reading (a header may lie).
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > limits.max_entry or total > limits.max_total:
            raise InvalidContainer("the container unpacks to more than the size limit")
        if info.file_size > 1024 * 1024 and \
                info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise InvalidContainer(f"entry {info.filename!r} is compressed more than "
                                   f"{limits.max_ratio}:1 (a zip bomb?)")

    def read(info: zipfile.ZipInfo, cap: int) -> bytes:
        try:
            with zf.open(info) as f:
                body = f.read(min(cap, info.file_size) + 1)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError,
                NotImplementedError) as e:
            raise InvalidContainer(f"entry {info.filename!r} is damaged: {e}") from e
        except RuntimeError as e:  # zipfile: encrypted entry
            raise InvalidContainer(f"entry {info.filename!r} cannot be read: {e}") from e
        if len(body) > min(cap, info.file_size):
            raise InvalidContainer(f"entry {info.filename!r} is larger than it says")
        return body

    if read(first, 64).rstrip(b"\r\n") != MIMETYPE:
        raise InvalidContainer(f"'mimetype' is not {MIMETYPE.decode()} (not an ASiC-E container)")
    files: dict[str, bytes] = {}
    signatures: dict[str, bytes] = {}
    manifest: bytes | None = None
    for info in infos[1:]:
        name = info.filename
        if info.is_dir():
            if name.startswith("META-INF"):
                continue
            raise InvalidContainer(f"folder entry {name!r}: data files only")
        if name.startswith("META-INF/"):
            base = name[len("META-INF/"):]
            if name == MANIFEST:
                manifest = read(info, limits.max_xml)
            elif "signatures" in base and base.endswith(".xml") and "/" not in base:
                signatures[name] = read(info, limits.max_xml)
            # Other META-INF files (ASiCManifest, metadata) are not signed data.
            continue
        files[name] = read(info, limits.max_entry)
    if manifest is None:
        raise InvalidContainer("the container has no META-INF/manifest.xml (BDOC 2.1 §2.2)")
    mimetypes = parse_manifest(manifest)
    listed = set(mimetypes)
    if listed != set(files):
        extra = sorted(set(files) - listed)
        missing = sorted(listed - set(files))
        raise InvalidContainer(
            "the manifest does not list the container's files"
            + (f"; not in the manifest: {', '.join(extra)}" if extra else "")
            + (f"; missing: {', '.join(missing)}" if missing else ""))
    return Container(files=files, signatures=signatures, mimetypes=mimetypes, manifest=manifest)


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                          load_dtd=False, dtd_validation=False)


def parse_manifest(raw: bytes) -> dict[str, str]:
    """OpenDocument manifest → {data file name: media type}, without the root entry."""
    try:
        root = etree.fromstring(raw, parser=_PARSER)
    except etree.XMLSyntaxError as e:
        raise InvalidContainer(f"META-INF/manifest.xml is not XML: {e}") from e
    if root.tag != f"{{{MANIFEST_NS}}}manifest":
        raise InvalidContainer("META-INF/manifest.xml is not an OpenDocument manifest")
    out: dict[str, str] = {}
    for entry in root.iterfind(f"{{{MANIFEST_NS}}}file-entry"):
        path = entry.get(f"{{{MANIFEST_NS}}}full-path")
        media = entry.get(f"{{{MANIFEST_NS}}}media-type") or "application/octet-stream"
        if path is None:
            raise InvalidContainer("a manifest entry has no full-path")
        if path == "/":
            continue
        if path in out:
            raise InvalidContainer(f"the manifest lists {path!r} twice")
        out[path] = media
    return out


def build_manifest(mimetypes: dict[str, str]) -> bytes:
    """The OpenDocument manifest BDOC 2.1 §2.2 asks for (root entry + one per file)."""
    lines = ['<?xml version="1.0" encoding="UTF-8" standalone="no" ?>',
             f'<manifest:manifest xmlns:manifest="{MANIFEST_NS}" manifest:version="1.2">',
             '<manifest:file-entry manifest:full-path="/" '
             'manifest:media-type="application/vnd.etsi.asic-e+zip"/>']
    for name, media in mimetypes.items():
        lines.append(f'<manifest:file-entry manifest:full-path={quoteattr(name)} '
                     f'manifest:media-type={quoteattr(media)}/>')
    lines.append("</manifest:manifest>")
    return ("\n".join(lines) + "\n").encode()


def write_container(container: Container) -> bytes:
    """The zip of ``container``: mimetype first and stored, manifest, files, signatures."""
    for name in (*container.files, *container.signatures):
        _check_name(name)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype", (1980, 1, 1, 0, 0, 0)), MIMETYPE,
                    compress_type=zipfile.ZIP_STORED)
        manifest = build_manifest(container.mimetypes)
        zf.writestr(MANIFEST, manifest, compress_type=zipfile.ZIP_DEFLATED)
        for name, body in container.files.items():
            zf.writestr(name, body, compress_type=zipfile.ZIP_DEFLATED)
        for name, body in container.signatures.items():
            zf.writestr(name, body, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()
