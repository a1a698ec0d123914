"""`sild ledger extend`: receipts upgraded to a later checkpoint or publication from tiles
served by a plain web server (docs/spec/ledger.md §4.3)."""

from __future__ import annotations

import asyncio
import functools
import http.server
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sild.cli import main
from sild.core.calendar import Publication
from sild.core.checkpoint import parse_checkpoint
from sild.core.imprint import Imprint
from sild.core.ledger_errors import LedgerFormatError, ProofError
from sild.core.note import parse_note
from sild.core.receipt import extend_receipt, parse_receipt
from sild.core.tiles import TileId
from sild.ledger.api import create_app
from sild.ledger.client import LedgerClient
from sild.ledger.home import init_ledger, open_ledger
from sild.ledger.testing import serve_ledger
from sild.ledger.tilestore import TileStore

DOC = b"the deed of the house"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def static(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A plain static web server over a copy of a ledger's tiles, stopped ledger behind it.

    Yields (URL, tiles folder) with a receipt at tmp_path/old.tlog-proof for DOC whose
    checkpoint is older than the ledger's last publication.
    """
    folder = tmp_path / "ledger"
    init_ledger(folder, origin="ledger.test/ext", period_ms=100,
                database_url=f"sqlite:///{tmp_path}/l.db", publication_every=4)
    ledger = open_ledger(folder)
    imprint = Imprint.of(DOC, at=datetime.now(UTC)).to_bytes()

    async def go(url: str) -> bytes:
        async with LedgerClient(url) as c:
            await c.submit([Imprint.of(b"x%d" % i, at=datetime.now(UTC)).to_bytes()
                            for i in range(5)])
            receipt = (await c.submit([imprint]))[0]
            size = parse_checkpoint(parse_note(parse_receipt(receipt)[0].checkpoint).text).size
            deadline = time.monotonic() + 10
            while not any(p.size > size + 2 for p, _, _ in ledger.publications()):
                assert time.monotonic() < deadline, "no publication"
                await asyncio.sleep(0.1)
            return receipt

    with serve_ledger(create_app(ledger)) as url:
        (tmp_path / "old.tlog-proof").write_bytes(asyncio.run(go(url)))
    ledger.close()
    tiles = folder / "tiles"
    handler = functools.partial(_Quiet, directory=str(tiles))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", tiles
    finally:
        server.shutdown()
        server.server_close()


def _last_publication(tiles: Path) -> Publication:
    line = (tiles / "publications").read_text().split("\n\n")[0].splitlines()[-1]
    return Publication.from_code(line.split()[-1])


def _hash() -> str:
    return Imprint.of(DOC, at=datetime.now(UTC)).to_bytes().hex()


def test_extended_receipt_verifies_with_the_publication_code(
    static: tuple[str, Path], tmp_path: Path
) -> None:
    """NA (PUB-02) before extending, OK with the code alone after; no key needed."""
    url, tiles = static
    code = _last_publication(tiles).code()
    old, new = str(tmp_path / "old.tlog-proof"), str(tmp_path / "new.tlog-proof")
    assert main(["verify", old, "--hash", _hash(), "--publication", code]) == 4
    assert main(["ledger", "extend", old, "--url", url, "--publication", code, "--out", new]) == 0
    assert main(["verify", new, "--hash", _hash(), "--publication", code]) == 0
    # The extended receipt is still bound to the document.
    assert main(["verify", new, "--hash", "01" + "00" * 32, "--publication", code]) == 5


def test_extended_to_the_latest_checkpoint_verifies_with_the_key(
    static: tuple[str, Path], tmp_path: Path
) -> None:
    """Without a code the receipt moves to the latest checkpoint, signed by the ledger."""
    url, tiles = static
    new = tmp_path / "new.tlog-proof"
    assert main(["ledger", "extend", str(tmp_path / "old.tlog-proof"), "--url", url,
                 "--out", str(new)]) == 0
    assert parse_receipt(new.read_bytes())[0].checkpoint == (tiles / "checkpoint").read_bytes()
    key = str(tiles.parent / "ledger.vkey")
    assert main(["verify", str(new), "--hash", _hash(), "--key", key]) == 0


def _tile0(tiles: Path) -> list[Path]:
    """Every partial version of level-0 tile 0 (older widths stay until the tile is full)."""
    return sorted((tiles / "tile" / "0" / "000.p").iterdir(), key=lambda p: int(p.name))


def test_a_flipped_tile_byte_fails(static: tuple[str, Path], tmp_path: Path) -> None:
    """A tile changed on the server makes extend FAIL (exit 3) and writes nothing."""
    url, tiles = static
    old = tmp_path / "old.tlog-proof"
    index = parse_receipt(old.read_bytes())[0].index
    j = index + 1  # a sibling subtree of the receipt's leaf: on its new inclusion path
    for tile in _tile0(tiles):
        data = bytearray(tile.read_bytes())
        if len(data) > 32 * j:
            data[32 * j + 7] ^= 0x01
            tile.write_bytes(bytes(data))
    code = _last_publication(tiles).code()
    new = tmp_path / "new.tlog-proof"
    args = ["ledger", "extend", str(old), "--url", url, "--publication", code, "--out", str(new)]
    assert main(args) == 5
    assert not new.exists()


def test_truncated_tiles_are_a_clear_error(
    static: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A truncated tile is named in a one-line error (exit 2), no traceback, no output."""
    url, tiles = static
    for tile in _tile0(tiles):
        tile.write_bytes(tile.read_bytes()[:-40])
    new = tmp_path / "new.tlog-proof"
    capsys.readouterr()
    code = main(["ledger", "extend", str(tmp_path / "old.tlog-proof"), "--url", url,
                 "--out", str(new)])
    err = capsys.readouterr().err
    assert code == 2
    assert "tile/0/000.p/" in err
    assert "expected" in err
    assert "Traceback" not in err
    assert not new.exists()


def test_every_tile_byte_flip_fails_or_changes_nothing(static: tuple[str, Path],
                                                       tmp_path: Path) -> None:
    """Library level: any flipped tile byte either fails or leaves the result unchanged."""
    _, tiles = static
    raw = (tmp_path / "old.tlog-proof").read_bytes()
    target = (tiles / "checkpoint").read_bytes()
    store = TileStore(tiles)
    good = extend_receipt(raw, checkpoint=target, fetch=store.tile)
    index = parse_receipt(raw)[0].index
    size = parse_checkpoint(parse_note(target).text).size
    clean = store.tile(TileId(0, 0, size))
    failed = 0
    for pos in range(len(clean)):
        bad = bytearray(clean)
        bad[pos] ^= 0x80

        def fetch(t: TileId, bad: bytes = bytes(bad)) -> bytes:
            return bad if (t.level, t.index) == (0, 0) else store.tile(t)

        try:
            out = extend_receipt(raw, checkpoint=target, fetch=fetch)
        except ProofError:
            failed += 1
            continue
        assert out == good, pos
        assert pos // 32 == index, pos  # only the receipt's own leaf hash may go unread
    assert failed >= len(clean) - 32
    with pytest.raises(LedgerFormatError, match="expected"):
        extend_receipt(raw, checkpoint=target, fetch=lambda t: store.tile(t)[:-1])
