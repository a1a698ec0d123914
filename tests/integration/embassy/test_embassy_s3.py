"""`sild embassy --site s3://…` against a real S3 API on loopback (moto's server):
backup, list, verify, restore with the drill, and the refusals, as with a folder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sild.cli import main
from sild.embassy.site import SnapshotWriter
from sild.testing.servers import free_port

from .conftest import Site

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    monkeypatch.setenv("SILD_S3_ENDPOINT", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    name = f"embassy-{tmp_path.name.lower().replace('_', '-')[-40:]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    client.create_bucket(Bucket=name)
    yield client, name
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=name).get("Contents", [])]
    if keys:
        client.delete_objects(Bucket=name, Delete={"Objects": [{"Key": k} for k in keys]})
    client.delete_bucket(Bucket=name)


def _keys(bucket: Any) -> list[str]:
    client, name = bucket
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=name).get("Contents", []))


def _target_db(request: pytest.FixtureRequest, db_url: str) -> list[str]:
    if db_url.startswith("sqlite"):
        return []
    make: Callable[[str], str] = request.getfixturevalue("pg_databases")
    return ["--database", make("restored")]


def test_s3_site_backup_restore_and_drill(
        gateway: Path, site: Site, bucket: Any, db_url: str, request: pytest.FixtureRequest,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A snapshot in a bucket: listed, verified, restored; the drill passes."""
    url = f"s3://{bucket[1]}/embassy/tallinn"
    assert main(["embassy", "backup", "--dir", str(gateway), "--site", url, "--key",
                 str(site.home_key)]) == 0
    keys = _keys(bucket)
    assert keys[-1].endswith("/manifest.note")
    assert all(k.startswith("embassy/tallinn/") for k in keys)
    capsys.readouterr()
    assert main(["embassy", "list", "--site", url, "--trust", str(site.home_pub)]) == 0
    assert "signed by home" in capsys.readouterr().out
    assert main(["embassy", "verify", "--site", url, "latest", "--trust",
                 str(site.home_pub)]) == 0
    to = site.root / "fresh"
    code = main(["embassy", "restore", "--site", url, "latest", "--trust", str(site.home_pub),
                 "--identity", str(site.home_key), "--to", str(to), "--ledger-key",
                 str(site.ledger_key), *_target_db(request, db_url)])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "drill: complete: the snapshot recorded 65 records" in out


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_s3_tampered_chunk_is_refused(gateway: Path, site: Site, bucket: Any,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """An object replaced in the bucket: verify FAIL (5), restore refused (2), no files."""
    url = f"s3://{bucket[1]}"
    assert main(["embassy", "backup", "--dir", str(gateway), "--site", url, "--key",
                 str(site.home_key)]) == 0
    client, name = bucket
    chunk = next(k for k in _keys(bucket) if k.endswith("000000.age"))
    data = bytearray(client.get_object(Bucket=name, Key=chunk)["Body"].read())
    data[100] ^= 0x40
    client.put_object(Bucket=name, Key=chunk, Body=bytes(data))
    capsys.readouterr()
    assert main(["embassy", "verify", "--site", url, "latest", "--trust",
                 str(site.home_pub)]) == 5
    to = site.root / "fresh"
    assert main(["embassy", "restore", "--site", url, "latest", "--trust", str(site.home_pub),
                 "--identity", str(site.home_key), "--to", str(to)]) == 2
    assert "chunk 0 does not match the signed manifest" in capsys.readouterr().err
    assert not to.exists()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_s3_interrupted_backup_leaves_no_snapshot(
        gateway: Path, site: Site, bucket: Any, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C after the first chunk: exit 130; the chunks are deleted, no manifest."""
    import os

    (gateway / "confcache").mkdir()
    (gateway / "confcache" / "bulk.bin").write_bytes(os.urandom(3 << 20))
    from sild.embassy import s3site

    real = s3site._S3Writer.put_chunk

    def interrupted(self: SnapshotWriter, index: int, data: bytes) -> None:
        if index == 1:
            raise KeyboardInterrupt
        real(self, index, data)  # type: ignore[arg-type]

    monkeypatch.setattr(s3site._S3Writer, "put_chunk", interrupted)
    assert main(["embassy", "backup", "--dir", str(gateway), "--site", f"s3://{bucket[1]}",
                 "--key", str(site.home_key), "--chunk-mib", "1"]) == 130
    assert _keys(bucket) == []
    assert main(["embassy", "list", "--site", f"s3://{bucket[1]}"]) == 0
    assert "no snapshots at" in capsys.readouterr().out


def test_s3_missing_bucket_is_one_line(site: Site, s3_endpoint: str, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """A bucket that does not exist: exit 1 with one line, no traceback."""
    monkeypatch.setenv("SILD_S3_ENDPOINT", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert main(["embassy", "list", "--site", "s3://no-such-bucket-here"]) == 1
    err = capsys.readouterr().err
    assert "NoSuchBucket" in err
    assert len(err.strip().splitlines()) == 1
