"""The ledger's HTTP interface, raw ASGI (the hot path; research/limits.md §3).

docs/spec/ledger.md §8:

* ``POST /add``                      submit imprints (binary or JSON) → receipt ids
* ``GET  /receipt/<round>.<leaf>``   one receipt (``?wait=S`` long-polls until the round closes)
* ``GET  /receipts/<round>?first=&count=&wait=``  many receipts of one round, as JSON
* ``GET  /checkpoint``, ``/tile/…``, ``/publications``, ``/publication/<size>``
                                     the static files (any web server could serve them)
* ``GET  /healthz``                   ``{"size", "role"}``: ``writer`` or ``standby`` (§3.4)

Errors: by the one mapper (:func:`sild.web.errors.answer_for`): the error's status,
header ``X-Road-Error`` and JSON ``{"type", "message", "detail"}``. A receipt still
pending after ``wait`` is ``202``.
"""

from __future__ import annotations

import asyncio
import gzip
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import orjson
import structlog

from sild.core.ledger_errors import LedgerFormatError
from sild.core.tiles import parse_entries_path, parse_tile_path
from sild.errors import InvalidRequest, NotFound, SildError
from sild.ledger.intake import BatchTooLarge, parse_batch
from sild.ledger.service import Ledger
from sild.ledger.submitters import Submitters
from sild.web.errors import answer_for
from sild.web.shell import Shell, send_answer

__all__ = ["create_app"]

log = structlog.get_logger("sild.ledger.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_RECEIPT = re.compile(r"/receipt/([0-9]{1,19})\.([0-9]{1,19})")
_RECEIPTS = re.compile(r"/receipts/([0-9]{1,19})")
_PUBLICATION = re.compile(r"/publication/([1-9][0-9]{0,19})")
TLOG_PROOF = b"application/x-tlog-proof"
TEXT = b"text/plain; charset=utf-8"
JSON = b"application/json"
_CHUNK = 500  # receipts per chunk of a streamed GET /receipts answer
# C2SP tlog-tiles §Serving: full tiles and entry bundles never change (cache for a year);
# a partial tile may vanish once its tile is full, so only briefly; the checkpoint is
# the log's head (revalidate every time).
IMMUTABLE = b"public, max-age=31536000, immutable"
PARTIAL = b"public, max-age=60"
HEAD = b"no-cache"
_GZIPPED = 256  # compressed full entry bundles kept (≤ ~12 KB each): a stranger's
# repeated requests cost one compression per bundle, not one per request


async def _respond(
    send: Send, status: int, body: bytes, ctype: bytes = JSON, extra: list[Any] | None = None
) -> None:
    headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _error(send: Send, e: SildError) -> None:
    """The one mapper every Sild service answers errors with (sild.web.errors); a quota
    refusal (429) also says when to come back (RFC 9110 §10.2.3 ``Retry-After``)."""
    answer = answer_for(e)
    retry = e.fields.get("retry_after")
    if retry is None:
        await send_answer(send, answer)
        return
    await _respond(send, answer.status, answer.body, answer.content_type.encode(), [
        (b"x-road-error", answer.code.encode()), (b"retry-after", str(int(retry)).encode())])


async def _body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        msg = await receive()
        chunk = msg.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BatchTooLarge(f"request body is larger than {limit} bytes")
        chunks.append(chunk)
        more = msg.get("more_body", False)
    return b"".join(chunks)


def _query(scope: Scope) -> dict[str, str]:
    q = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return {k: v[-1] for k, v in q.items()}


MAX_INDEX = 2**63 - 1  # round and leaf indexes are BIGINT (docs/spec/ledger.md §8)


def _index(text: str, name: str) -> int:
    """A round, leaf or query number: ``0 .. 2^63 - 1`` in ASCII digits, else 400."""
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or int(text) > MAX_INDEX:
        raise InvalidRequest(f"{name} must be an integer from 0 to 2^63 - 1")
    return int(text)


def _int(q: dict[str, str], name: str, default: int) -> int:
    text = q.get(name)
    return default if text is None else _index(text, f"query parameter {name}")


def _wait(q: dict[str, str], ledger: Ledger, r: int) -> float:
    """How long to long-poll for round ``r``: at most ``max_wait_s``, and not at all for a
    round that cannot close within the wait (a stranger asking for round 2^31 would
    otherwise hold a connection for the whole wait)."""
    text = q.get("wait", "0")
    try:
        wait = float(text)
    except ValueError as e:
        raise InvalidRequest("wait must be a number of seconds") from e
    if not wait >= 0:  # also refuses NaN
        raise InvalidRequest("wait must be a number of seconds")
    wait = min(wait, ledger.limits.max_wait_s)
    closes_in_s = (ledger.rounds.end_ms(r) - ledger.clock()) / 1000
    return 0.0 if closes_in_s > wait + 1 else wait


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope["headers"]:
        if k == name:
            return bytes(v).decode("latin-1")
    return None


def create_app(ledger: Ledger, *, submitters: Submitters | None = None) -> Shell:
    """The ASGI application of one ledger.

    ``submitters`` decides who may ``POST /add`` and how much (docs/spec/ledger.md §8.1);
    ``sild ledger serve`` passes the folder's keys. Without it anyone may submit, without
    quotas — for in-process tests and tools only.
    """
    limits = ledger.limits
    subs = submitters or Submitters.unauthenticated(max_batch=limits.max_batch,
                                                    max_round=limits.max_round)
    gzipped: OrderedDict[str, bytes] = OrderedDict()

    async def add(scope: Scope, receive: Receive, send: Send) -> None:
        # §8.1: the credential and the rate are checked before a byte of the body is read.
        who = subs.authenticate(_header(scope, b"authorization"))
        subs.ready(who)
        body = await _body(receive, limits.max_body)
        ctype = next((v for k, v in scope["headers"] if k == b"content-type"), b"")
        imprints = parse_batch(
            body,
            json=ctype.startswith(JSON),
            at=_at(ledger),
            max_batch=limits.max_batch,
        )
        now = ledger.clock()
        r = ledger.rounds.round_at(now)
        subs.charge(who, len(imprints), round_index=r,
                    round_ends_in_s=max(0, ledger.rounds.end_ms(r) - now) / 1000)
        try:
            sub = ledger.submit(imprints)
        except SildError:  # RoundFull, NotWriter, …: nothing was queued, nothing is counted
            subs.refund(who, len(imprints), round_index=r)
            raise
        out = {"round": sub.round, "first": sub.first, "count": sub.count, "ids": sub.ids()}
        await _respond(send, 200, orjson.dumps(out))

    async def receipt(send: Send, r: int, leaf: int, q: dict[str, str]) -> None:
        if not await ledger.wait_closed(r, _wait(q, ledger, r)):
            await _pending(send, r)
            return
        await _respond(send, 200, ledger.receipts(r, leaf, 1)[0], TLOG_PROOF)

    async def receipts(send: Send, r: int, q: dict[str, str]) -> None:
        first, count = _int(q, "first", 0), _int(q, "count", 1)
        if count > limits.max_batch:
            raise BatchTooLarge(f"at most {limits.max_batch} receipts per request")
        if not await ledger.wait_closed(r, _wait(q, ledger, r)):
            await _pending(send, r)
            return
        ledger.receipts(r, first, 1)  # errors (404) before the 200 starts
        # Streamed in chunks: a 10k-receipt answer is ~20 MB; built at once for many
        # clients it would dominate the ledger's resident size (bench_ledger_memory).
        headers = [(b"content-type", JSON)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        pre = b'{"receipts":['
        for i in range(first, first + count, _CHUNK):
            part = ledger.receipts(r, i, min(_CHUNK, first + count - i))
            body = b",".join(orjson.dumps(x.decode("utf-8")) for x in part)
            await send({"type": "http.response.body", "body": pre + body, "more_body": True})
            pre = b","
        await send({"type": "http.response.body", "body": b"]}"})

    async def static(scope: Scope, send: Send, path: str) -> None:
        rel = path.lstrip("/")
        try:
            if rel.startswith("tile/entries/"):
                parse_entries_path(rel)
            elif rel.startswith("tile/"):
                tile = parse_tile_path(rel)
                # A partial tile may be gone once full: serve its prefix (§3.2).
                cache = PARTIAL if tile.is_partial else IMMUTABLE
                await _respond(send, 200, ledger.store.tile(tile), b"application/octet-stream",
                               [(b"cache-control", cache)])
                return
            elif not (rel in ("checkpoint", "publications") or _PUBLICATION.fullmatch(path)):
                raise NotFound(f"no such resource {path[:100]!r}")
        except LedgerFormatError as e:
            raise NotFound(f"no such resource {path[:100]!r}") from e
        data = ledger.store.read(rel)
        if data is None:
            raise NotFound(f"no such resource {path[:100]!r}")
        ctype = b"application/octet-stream" if rel.startswith("tile/") else TEXT
        partial = ".p/" in rel
        cache = HEAD if rel in ("checkpoint", "publications") else (
            PARTIAL if partial else IMMUTABLE)
        extra = [(b"cache-control", cache)]
        if rel.startswith("tile/entries/"):
            extra.append((b"vary", b"accept-encoding"))
            if "gzip" in (_header(scope, b"accept-encoding") or "").lower():
                data = _gzip(rel, data, keep=not partial)
                extra.append((b"content-encoding", b"gzip"))
        await _respond(send, 200, data, ctype, extra)

    def _gzip(rel: str, data: bytes, *, keep: bool) -> bytes:
        got = gzipped.get(rel)
        if got is not None:
            gzipped.move_to_end(rel)
            return got
        out = gzip.compress(data, compresslevel=6, mtime=0)
        if keep:
            gzipped[rel] = out
            if len(gzipped) > _GZIPPED:
                gzipped.popitem(last=False)
        return out

    stop = asyncio.Event()
    runner: list[asyncio.Task[None]] = []

    def start() -> None:
        # The round loop lives in the server's event loop: started by ASGI lifespan, or
        # by the first request when the server runs without lifespan events.
        if not runner:
            runner.append(asyncio.get_running_loop().create_task(ledger.run(stop)))

    async def lifespan(receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                start()
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                stop.set()
                if runner:
                    await runner[0]
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if not runner:
            start()
        path: str = scope["path"]
        method: str = scope["method"]
        try:
            if method == "POST" and path == "/add":
                await add(scope, receive, send)
            elif method != "GET":
                raise InvalidRequest(f"{method} is not supported here")
            elif m := _RECEIPT.fullmatch(path):
                await receipt(send, _index(m[1], "round"), _index(m[2], "leaf"), _query(scope))
            elif m := _RECEIPTS.fullmatch(path):
                await receipts(send, _index(m[1], "round"), _query(scope))
            elif path == "/healthz":
                health = {"size": ledger.size, "role": ledger.role}
                await _respond(send, 200, orjson.dumps(health))
            else:
                await static(scope, send, path)
        except SildError as e:
            await _error(send, e)

    # The one web shell: body limit before reading, the one error mapper, /metrics.
    return Shell(app, max_body=limits.max_body)


async def _pending(send: Send, r: int) -> None:
    body = orjson.dumps({"status": "pending", "round": r})
    await _respond(send, 202, body, extra=[(b"retry-after", b"1")])


def _at(ledger: Ledger) -> datetime:
    return datetime.fromtimestamp(ledger.clock() / 1000, tz=UTC)
