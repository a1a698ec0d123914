"""A ledger client over HTTP (aiohttp; research/limits.md §4: ~10× httpx's rate).

The call a gateway uses to anchor its log (docs/spec/ledger.md §8)::

    async with LedgerClient("http://ledger:8470") as ledger:
        receipts = await ledger.submit([imprint, ...])   # one .tlog-proof per imprint

``submit`` posts the imprints (``algorithm id || digest``, e.g.
``Imprint.of(data, at=now).to_bytes()``), then long-polls until their round has closed
and returns the receipts in the same order. ``add`` and ``receipts`` are the two halves,
for callers that want to keep working while the round closes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from types import TracebackType

import aiohttp
import orjson

from sild.errors import (
    InvalidRequest,
    NotFound,
    RemoteError,
    ServiceUnavailable,
    SildError,
    TransportError,
)
from sild.ledger.service import Submission

__all__ = ["LedgerClient"]


class LedgerClient:
    """Submits imprints and fetches receipts and static files from one ledger."""

    def __init__(
        self, url: str, *, session: aiohttp.ClientSession | None = None, timeout_s: float = 60.0
    ) -> None:
        self.url = url.rstrip("/")
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
        headers = {"content-type": ctype} if ctype else None
        try:
            async with self._s().request(
                method, self.url + path, data=data, headers=headers
            ) as resp:
                body = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as e:
            raise TransportError(f"ledger {self.url} is unreachable: {e!r}") from e
        if status >= 400:
            raise _error(status, body)
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


def _error(status: int, body: bytes) -> SildError:
    try:
        message = str(orjson.loads(body).get("message", ""))
    except (orjson.JSONDecodeError, AttributeError):
        message = body[:200].decode("utf-8", "replace")
    text = f"ledger answered {status}: {message}"
    if status == 404:
        return NotFound(text)
    if status == 503:
        return ServiceUnavailable(text)
    if status in (400, 413, 422):
        return InvalidRequest(text)
    if status < 500:
        return RemoteError(text)
    return TransportError(text)
