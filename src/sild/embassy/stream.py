"""The payload as a stream of encrypted chunks, and back.

Backup writes a tar stream into :class:`ChunkWriter`, which cuts it into chunks of
``chunk_size`` bytes and encrypts each one as a standalone age file to the recipients
(age-encryption.org/v1 through ``pyrage``: X25519 recipient stanzas, then
ChaCha20-Poly1305 in 64 KiB STREAM segments). Memory stays at a few chunks
(buffer, plaintext, ciphertext) whatever the size of the database. Anyone with the
key and age can read a snapshot without Sild::

    for c in SITE/ID/chunks/*.age; do age -d -i SITE.key "$c"; done | tar -t

Restore reads through :class:`ChunkReader`, which checks each chunk's SHA-256 against
the verified manifest again as it reads it (the chunk could have changed since the
first pass) before it decrypts it.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence

import pyrage

from sild.embassy.manifest import Chunk, VerifiedManifest
from sild.embassy.site import Site, SiteWriter
from sild.errors import KeyFileError, SnapshotInvalid

__all__ = ["DEFAULT_CHUNK", "ChunkReader", "ChunkWriter"]

DEFAULT_CHUNK = 32 << 20  # 32 MiB: ~130 MB of buffers; a 1 MiB manifest lists ~9,000 chunks
_AGE_OVERHEAD = 4096  # header with a few recipients + 16 B tag per 64 KiB segment, bounded


class ChunkWriter(io.RawIOBase):
    """A write-only stream: every ``chunk_size`` bytes become one encrypted chunk."""

    def __init__(self, out: SiteWriter, recipients: Sequence[pyrage.x25519.Recipient],
                 chunk_size: int = DEFAULT_CHUNK) -> None:
        super().__init__()
        self._out, self._recipients, self._size = out, list(recipients), chunk_size
        self._buf = bytearray()
        self.chunks: list[Chunk] = []
        self.plain_bytes = 0
        self._failed = False  # after a failed chunk (or Ctrl-C) nothing more is written

    def writable(self) -> bool:
        return True

    def write(self, b: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        if self._failed:  # tarfile flushes on its way out of an exception: drop it
            return len(b)
        self._buf += b
        while len(self._buf) >= self._size:
            with memoryview(self._buf) as view:
                plain = bytes(view[:self._size])  # one copy, not a slice and a copy
            self._emit(plain)
            del self._buf[:self._size]
        return len(b)

    def _emit(self, plain: bytes) -> None:
        # Everything up to recording the chunk is inside the guard: a Ctrl-C that lands
        # just after the chunk was written must not let tarfile's flush write the same
        # chunk number again (it did: "File exists" instead of "interrupted").
        try:
            sealed = pyrage.encrypt(plain, self._recipients)
            self._out.put_chunk(len(self.chunks), sealed)
            self.chunks.append(Chunk(hashlib.sha256(sealed).hexdigest(), len(sealed)))
            self.plain_bytes += len(plain)
        except BaseException:
            self._failed = True
            raise

    def finish(self) -> list[Chunk]:
        if self._failed:
            raise RuntimeError("finish() after a failed chunk")  # a bug: backup aborts
        if self._buf or not self.chunks:
            self._emit(bytes(self._buf))
            self._buf.clear()
        return self.chunks


class ChunkReader(io.RawIOBase):
    """A read-only stream over the decrypted chunks of a verified snapshot."""

    def __init__(self, site: Site, verified: VerifiedManifest,
                 identities: Sequence[pyrage.x25519.Identity], chunk_size_limit: int) -> None:
        super().__init__()
        self._site, self._m = site, verified.manifest
        self._ids = list(identities)
        self._limit = chunk_size_limit
        self._next = 0
        self._buf = b""
        self._pos = 0

    def readable(self) -> bool:
        return True

    def _load(self) -> bool:
        if self._next >= len(self._m.chunks):
            return False
        want = self._m.chunks[self._next]
        data = self._site.read_chunk(self._m.id, self._next, limit=want.size)
        if len(data) != want.size or hashlib.sha256(data).hexdigest() != want.sha256:
            raise SnapshotInvalid(f"chunk {self._next} changed since it was verified")
        self._buf, self._pos = decrypt_chunk(data, self._ids, self._next), 0
        self._next += 1
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while self._pos >= len(self._buf):
            if not self._load():
                return 0
        n = min(len(b), len(self._buf) - self._pos)
        b[:n] = self._buf[self._pos:self._pos + n]
        self._pos += n
        return n


def decrypt_chunk(data: bytes, identities: Sequence[pyrage.x25519.Identity],
                  index: int) -> bytes:
    try:
        plain: bytes = pyrage.decrypt(data, list(identities))
        return plain
    except pyrage.DecryptError as e:
        if "no matching keys" in str(e).lower() or index == 0:
            raise KeyFileError("this snapshot is not encrypted to the given --identity key "
                               f"({e})") from e
        raise SnapshotInvalid(f"chunk {index} does not decrypt ({e})") from e
