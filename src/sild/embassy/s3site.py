"""A second site in an S3-compatible object store (``--site s3://BUCKET/PREFIX``).

The same layout as a folder site, as object keys::

    PREFIX/ID/chunks/000000.age     ciphertext chunks
    PREFIX/ID/manifest.note         the signed manifest, written last

One ``PutObject`` is atomic, so a snapshot exists exactly when its manifest does: an
interrupted backup leaves chunks without a manifest, which are never listed as a
snapshot nor restored. Ctrl-C deletes them at once; after a ``kill -9`` the next backup
deletes those older than :data:`STALE` (object stores have no lock to say the backup
that wrote them is dead). The bucket must exist. The endpoint is
``$SILD_S3_ENDPOINT`` (MinIO, Ceph, Garage, …; unset: AWS), credentials and region come
from boto3's usual chain (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_DEFAULT_REGION``, ``~/.aws``). Tested against moto's S3 server.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sild.embassy.site import MANIFEST, chunk_name, resolve_id
from sild.errors import ConfigurationError, SnapshotInvalid, StorageError, TransportError

__all__ = ["STALE", "S3Site"]

STALE = timedelta(hours=24)  # chunks without a manifest this old are a dead backup's
_MAX_MANIFEST = 1 << 20


def _wrap(e: Exception, what: str) -> Exception:
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
    )

    if isinstance(e, EndpointConnectionError):
        return TransportError(f"{what}: cannot reach the S3 endpoint ({e})")
    if isinstance(e, NoCredentialsError):
        return ConfigurationError(f"{what}: no S3 credentials (set AWS_ACCESS_KEY_ID and "
                                  "AWS_SECRET_ACCESS_KEY)")
    if isinstance(e, ClientError):
        code = e.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchBucket", "AccessDenied", "InvalidAccessKeyId",
                    "SignatureDoesNotMatch"):
            return ConfigurationError(f"{what}: {code}")
        if code in ("NoSuchKey", "404"):
            return SnapshotInvalid(f"{what}: missing at the site")
    return StorageError(f"{what}: {e}")


@dataclass
class _S3Writer:
    site: S3Site
    id: str

    def put_chunk(self, index: int, data: bytes) -> None:
        self.site._put(f"{self.id}/chunks/{chunk_name(index)}", data)

    def commit(self, manifest: bytes) -> str:
        self.site._put(f"{self.id}/{MANIFEST}", manifest)
        return f"{self.site.where}/{self.id}"

    def abort(self) -> None:
        # Already failing: the original error is the one reported.
        with contextlib.suppress(Exception):
            self.site._delete([k for k, _ in self.site._list(f"{self.id}/")])


@dataclass
class S3Site:
    bucket: str
    prefix: str  # "" or ending in "/"
    client: Any

    @classmethod
    def open(cls, url: str) -> S3Site:
        import boto3

        bucket, _, prefix = url[len("s3://"):].partition("/")
        if not bucket:
            raise ConfigurationError(f"--site {url}: no bucket (s3://BUCKET/PREFIX)")
        prefix = prefix.strip("/")
        client = boto3.client("s3", endpoint_url=os.environ.get("SILD_S3_ENDPOINT") or None)
        return cls(bucket, f"{prefix}/" if prefix else "", client)

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def _put(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)
        except Exception as e:
            raise _wrap(e, f"{self.where}/{key}") from e

    def _list(self, sub: str = "") -> Iterator[tuple[str, datetime]]:
        """(key below the prefix, last modified) of every object under ``sub``."""
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + sub)
            for page in pages:
                for obj in page.get("Contents", []):
                    yield obj["Key"][len(self.prefix):], obj["LastModified"]
        except Exception as e:
            raise _wrap(e, self.where) from e

    def _delete(self, keys: list[str]) -> None:
        for i in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
            self.client.delete_objects(Bucket=self.bucket, Delete={
                "Objects": [{"Key": self.prefix + k} for k in keys[i:i + 1000]]})

    def _get(self, key: str, *, limit: int | None = None) -> bytes:
        try:
            kw = {"Range": f"bytes=0-{limit}"} if limit is not None else {}
            body = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key, **kw)
            data: bytes = body["Body"].read()
            return data
        except Exception as e:
            raise _wrap(e, f"{self.where}/{key}") from e

    def _snapshots(self) -> dict[str, tuple[bool, datetime]]:
        """id → (has a manifest, newest object time)."""
        out: dict[str, tuple[bool, datetime]] = {}
        for key, modified in self._list():
            sid, _, rest = key.partition("/")
            done, newest = out.get(sid, (False, modified))
            out[sid] = (done or rest == MANIFEST, max(newest, modified))
        return out

    @contextmanager
    def lock(self) -> Iterator[None]:
        yield  # no lock in an object store: stale partials are recognised by age instead

    def writer(self, snapshot_id: str) -> _S3Writer:
        return _S3Writer(self, snapshot_id)

    def ids(self) -> list[str]:
        return sorted(sid for sid, (done, _) in self._snapshots().items() if done)

    def partials(self) -> list[str]:
        return sorted(sid for sid, (done, _) in self._snapshots().items() if not done)

    def remove_partials(self) -> list[str]:
        cutoff = datetime.now(UTC) - STALE
        gone = [sid for sid, (done, newest) in self._snapshots().items()
                if not done and newest < cutoff]
        for sid in gone:
            self._delete([k for k, _ in self._list(f"{sid}/")])
        return gone

    def resolve(self, snapshot: str) -> str:
        return resolve_id(self.ids(), snapshot, self.where)

    def manifest(self, snapshot_id: str) -> bytes:
        return self._get(f"{snapshot_id}/{MANIFEST}", limit=_MAX_MANIFEST)

    def chunk_names(self, snapshot_id: str) -> list[str]:
        sub = f"{snapshot_id}/chunks/"
        return sorted(k[len(sub):] for k, _ in self._list(sub))

    def read_chunk(self, snapshot_id: str, index: int, *, limit: int) -> bytes:
        return self._get(f"{snapshot_id}/chunks/{chunk_name(index)}", limit=limit)

    def hash_chunk(self, snapshot_id: str, index: int) -> tuple[str, int]:
        key = f"{snapshot_id}/chunks/{chunk_name(index)}"
        h, n = hashlib.sha256(), 0
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"]
            for block in body.iter_chunks(1 << 20):
                h.update(block)
                n += len(block)
        except Exception as e:
            raise _wrap(e, f"{self.where}/{key}") from e
        return h.hexdigest(), n
