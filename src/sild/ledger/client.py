"""A ledger client over HTTP (aiohttp; research/limits.md §4: ~10× httpx's rate).

The call a gateway uses to anchor its log (docs/spec/ledger.md §8)::

    async with LedgerClient("http://ledger:8470") as ledger:
        receipts = await ledger.submit([imprint, ...])   # one .tlog-proof per imprint

``submit`` posts the imprints (``algorithm id || digest``, e.g.
``Imprint.of(data, at=now).to_bytes()``), then long-polls until their round has closed
and returns the receipts in the same order. ``add`` and ``receipts`` are the two halves,
for callers that want to keep working while the round closes. ``extend`` upgrades a
receipt to a later checkpoint or a publication from the public tiles (§4.3); it works
against any web server holding a copy of the ledger's ``tiles/`` folder.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from types import TracebackType

import aiohttp
import orjson

from sild.core.calendar import Publication
from sild.core.checkpoint import parse_checkpoint
from sild.core.ledger_errors import LedgerFormatError, ProofError
from sild.core.note import parse_note
from sild.core.receipt import extend_receipt, parse_receipt
from sild.core.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    TileId,
    tiles_for_consistency,
    tiles_for_inclusion,
)
from sild.errors import (
    InvalidRequest,
    NotFound,
    QuotaExceeded,
    RemoteError,
    ServiceUnavailable,
    SildError,
    TransportError,
    Unauthorized,
)
from sild.ledger.service import Submission
from sild.web.neterrors import describe_network_error

__all__ = ["LedgerClient"]


class LedgerClient:
    """Submits imprints and fetches receipts and static files from one ledger."""

    def __init__(
        self, url: str, *, session: aiohttp.ClientSession | None = None, timeout_s: float = 60.0,
        credential: str | None = None,
    ) -> None:
        """``credential``: the API key ``<name>.<secret>`` the ledger's operator issued
        (``sild ledger key add``), sent with submissions (docs/spec/ledger.md §8.1)."""
        self.url = url.rstrip("/")
        self._auth = {"authorization": f"Bearer {credential}"} if credential else {}
        self._own = session is None
        self._session = session
        self.timeout_s = timeout_s

    async def __aenter__(self) -> LedgerClient:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session if this client opened it."""
        if self._own and self._session is not None:
            await self._session.close()
            self._session = None

    def _s(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s)
            )
        return self._session

    async def _request(
        self, method: str, path: str, *, data: bytes | None = None, ctype: str | None = None
    ) -> tuple[int, bytes]:
        headers = {"content-type": ctype, **self._auth} if ctype else None
        try:
            async with self._s().request(
                method, self.url + path, data=data, headers=headers
            ) as resp:
                body = await resp.read()
                status = resp.status
                retry = resp.headers.get("retry-after", "")
        except (aiohttp.ClientError, TimeoutError) as e:
            raise TransportError(
                f"ledger {self.url} is unreachable: {describe_network_error(e)}") from e
        except ValueError as e:  # yarl: not a URL at all
            raise InvalidRequest(f"{self.url!r} is not a ledger URL: {e}") from e
        if status >= 400:
            raise _error(status, body, retry)
        return status, body

    async def add(self, imprints: Sequence[bytes]) -> Submission:
        """Submit imprints; returns where they sit. Nothing is durable until the round closes."""
        _, body = await self._request(
            "POST", "/add", data=b"".join(imprints), ctype="application/octet-stream"
        )
        out = orjson.loads(body)
        return Submission(int(out["round"]), int(out["first"]), int(out["count"]))

    async def receipts(self, sub: Submission, *, wait_s: float | None = None) -> list[bytes]:
        """The receipts of a submission, waiting (long-poll) until its round has closed."""
        deadline = time.monotonic() + (self.timeout_s if wait_s is None else wait_s)
        out: list[bytes] = []
        first, left = sub.first, sub.count
        while left:
            wait = max(0.0, deadline - time.monotonic())
            n = min(left, 10_000)
            status, body = await self._request(
                "GET", f"/receipts/{sub.round}?first={first}&count={n}&wait={wait:.3f}"
            )
            if status == 202:
                if time.monotonic() >= deadline:
                    raise ServiceUnavailable(f"round {sub.round} did not close in time")
                continue
            got = [r.encode("utf-8") for r in orjson.loads(body)["receipts"]]
            out.extend(got)
            first, left = first + len(got), left - len(got)
        return out

    async def receipt(self, receipt_id: str, *, wait_s: float = 0.0) -> bytes | None:
        """One receipt by id ``<round>.<leaf>``; None if its round is still open."""
        status, body = await self._request("GET", f"/receipt/{receipt_id}?wait={wait_s:.3f}")
        return None if status == 202 else body

    async def submit(self, imprints: Sequence[bytes], *, batch: int = 10_000) -> list[bytes]:
        """Submit imprints and wait for their receipts, in the same order.

        More than ``batch`` imprints (the ledger's default ``max_batch``) go in several
        requests, which may land in different rounds.
        """
        subs = [await self.add(imprints[i : i + batch]) for i in range(0, len(imprints), batch)]
        out: list[bytes] = []
        for sub in subs:
            out.extend(await self.receipts(sub))
        return out

    async def fetch(self, rel: str) -> bytes:
        """A static file: ``checkpoint``, ``tile/…``, ``publications``, ``publication/<n>``."""
        _, body = await self._request("GET", "/" + rel.lstrip("/"))
        return body

    async def extend(self, receipt: bytes, *, publication: Publication | None = None) -> bytes:
        """``receipt`` re-anchored to the ledger's latest checkpoint, or to ``publication``.

        Fetches the target checkpoint and the tiles the proofs need (concurrently), then
        :func:`~sild.core.receipt.extend_receipt` checks everything it was sent.
        """
        if publication is None:
            target = await self.fetch("checkpoint")
        else:
            target = await self.fetch(f"publication/{publication.size}")
            cp = parse_checkpoint(parse_note(target).text)
            if (cp.size, cp.root) != (publication.size, publication.root):
                raise ProofError(f"the ledger's publication/{publication.size} is not the "
                                 f"publication {publication.code()} (a fork?)")
        proof, _ = parse_receipt(receipt)
        old = parse_checkpoint(parse_note(proof.checkpoint).text).size
        new = parse_checkpoint(parse_note(target).text).size
        if new < old:
            raise LedgerFormatError(f"the ledger's checkpoint ({new}) is older than the "
                                    f"receipt's ({old})")
        if not proof.index < old:
            raise LedgerFormatError("receipt index is outside its checkpoint")
        need = sorted(set(tiles_for_consistency(old, new)) | set(tiles_for_inclusion(proof.index,
                                                                                     new)))
        got = await asyncio.gather(*(self._tile(t) for t in need))
        tiles = dict(zip(need, got, strict=True))
        return extend_receipt(receipt, checkpoint=target, fetch=tiles.__getitem__)

    async def _tile(self, tile: TileId) -> bytes:
        """A tile; a partial one that is gone is read as a prefix of a wider one (tlog-tiles
        §Partial Tiles: prefix hashes never change). Lengths are checked by the reader."""
        try:
            return await self.fetch(tile.path())
        except NotFound:
            if not tile.is_partial:
                raise
        want = 32 * tile.width
        try:
            return (await self.fetch(TileId(tile.level, tile.index).path()))[:want]
        except NotFound:
            pass
        size = parse_checkpoint(parse_note(await self.fetch("checkpoint")).text).size
        count = size >> (TILE_HEIGHT * tile.level)
        if count // TILE_WIDTH != tile.index or count % TILE_WIDTH < tile.width:
            raise NotFound(f"tile {tile.path()} is gone and no wider one is served")
        wider = TileId(tile.level, tile.index, count % TILE_WIDTH)
        return (await self.fetch(wider.path()))[:want]


def _error(status: int, body: bytes, retry_after: str = "") -> SildError:
    try:
        message = str(orjson.loads(body).get("message", ""))
    except (orjson.JSONDecodeError, AttributeError):
        message = body[:200].decode("utf-8", "replace")
    text = f"ledger answered {status}: {message}"
    if status == 404:
        return NotFound(text)
    if status == 401:
        return Unauthorized(text)
    if status == 429:
        wait = int(retry_after) if retry_after.isdigit() else 1
        return QuotaExceeded(f"{text} (retry after {wait} s)", retry_after=wait)
    if status == 503:
        return ServiceUnavailable(text)
    if status in (400, 413, 422):
        return InvalidRequest(text)
    if status < 500:
        return RemoteError(text)
    return TransportError(text)
