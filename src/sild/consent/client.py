"""What a provider gateway uses to ask the consent service (docs/spec/consent.md §4, §5.4).

``ConsentClient(base_url, headers=…, cache_ttl=…, timeout=…)``; ``await
client.decide(subject, categories, client, purpose, consent)`` → :class:`ConsentDecision`.
``base_url`` is the service itself (``http://127.0.0.1:8483``) or a consumer gateway's
``/r1/<service id>`` prefix, with ``X-Road-Client`` in ``headers``, so the question goes
through the exchange like any other call.

* Inputs are checked here first (the same parsers the service uses): a malformed
  personal code, category, client id or purpose never leaves the process.
* A decision is cached for ``min(cache_ttl, maxAge)`` seconds, keyed by every input;
  concurrent callers with the same inputs share one question to the service.
* Fail closed: the service unreachable, timing out, failing (5xx, a gateway's
  ``Server.*`` error) or answering anything that is not a decision, and no fresh cached
  decision → :class:`~sild.errors.ConsentUnavailable` (garbage:
  :class:`~sild.errors.ConsentAnswerInvalid`). A ``Client.*`` error the service gives
  for the request (a forged artefact, say) comes back as a
  :class:`~sild.errors.RelayedError` with its code. Never "allow" by default.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import orjson

from sild.consent.artefact import MAX_JWS
from sild.consent.model import (
    parse_categories,
    parse_category,
    parse_consumer,
    parse_purpose,
    parse_subject,
)
from sild.errors import (
    ConsentAnswerInvalid,
    ConsentUnavailable,
    InvalidDataCategory,
    InvalidRequest,
    RelayedError,
    normalise_code,
)

if TYPE_CHECKING:
    import aiohttp

__all__ = ["ConsentClient", "ConsentDecision"]

MAX_ANSWER = 64 * 1024  # a decision is a few hundred bytes
MAX_CACHED = 10_000  # decisions kept; the oldest go first


@dataclass(frozen=True, slots=True)
class ConsentDecision:
    """The service's answer: allowed or not, the categories locked for this client."""

    allowed: bool
    locked: tuple[str, ...]
    consent_id: str | None
    reason: str


def _decision(data: object) -> tuple[ConsentDecision, int]:
    """A decision from the answer's JSON, or :class:`ConsentAnswerInvalid`."""
    try:
        if not isinstance(data, Mapping):
            raise ValueError("not an object")
        verdict, locked, cid = data["decision"], data["locked"], data["consentId"]
        reason, max_age = data["reason"], data["maxAge"]
        if verdict not in ("allow", "deny") or not isinstance(locked, list) \
                or not isinstance(reason, str) or not (cid is None or isinstance(cid, str)) \
                or not isinstance(max_age, int) or isinstance(max_age, bool) or max_age < 0:
            raise ValueError("a field has the wrong type")
        cats = tuple(parse_category(c) for c in locked)
    except (KeyError, ValueError, TypeError, InvalidDataCategory) as e:
        raise ConsentAnswerInvalid(f"the consent service's answer is not a decision: {e}") \
            from e
    return ConsentDecision(verdict == "allow", cats, cid, reason), max_age


class ConsentClient:
    """Ask the consent service; cache briefly; fail closed (module docstring)."""

    def __init__(self, base_url: str, *, headers: Mapping[str, str] | None = None,
                 cache_ttl: float = 5.0, timeout: float = 2.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must be an http:// or https:// URL")
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers or {})
        self.cache_ttl = cache_ttl
        self.timeout = timeout
        self._cache: OrderedDict[tuple[Any, ...], tuple[float, ConsentDecision]] = \
            OrderedDict()
        self._session: aiohttp.ClientSession | None = None
        self._inflight: dict[tuple[Any, ...], asyncio.Future[tuple[ConsentDecision, int]]] = {}

    def _done(self, key: tuple[Any, ...], task: asyncio.Future[Any]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved here too: every waiter may have gone

    async def __aenter__(self) -> ConsentClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"Accept": "application/json", **self.headers})
        return self._session

    async def decide(self, subject: str, categories: tuple[str, ...], client: str,
                     purpose: str, consent: str | None = None) -> ConsentDecision:
        """May ``client`` receive ``subject``'s ``categories`` for ``purpose``?"""
        # the same checks as the service's, before anything is sent
        key = (parse_subject(subject), parse_categories(categories), parse_consumer(client),
               parse_purpose(purpose), consent)
        if consent is not None and (not isinstance(consent, str) or not consent
                                    or len(consent) > MAX_JWS):
            raise InvalidRequest(f"a consent is an id or a JWS of at most {MAX_JWS} "
                                 f"characters")
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None:
            if hit[0] > now:
                return hit[1]
            del self._cache[key]
        # one question in flight per key: concurrent callers share its answer or its error
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._ask(key))
            self._inflight[key] = task
            task.add_done_callback(lambda t: self._done(key, t))
        answer: tuple[ConsentDecision, int] = await asyncio.shield(task)
        decision, max_age = answer
        ttl = min(self.cache_ttl, float(max_age))
        if ttl > 0:
            self._cache[key] = (time.monotonic() + ttl, decision)
            while len(self._cache) > MAX_CACHED:
                self._cache.popitem(last=False)
        return decision

    async def _ask(self, key: tuple[Any, ...]) -> tuple[ConsentDecision, int]:
        import aiohttp

        subject, cats, client, purpose, consent = key
        query = [("subject", subject), *(("category", c) for c in cats),
                 ("client", client), ("purpose", purpose)]
        if consent is not None:
            query.append(("consent", consent))
        url = f"{self.base_url}/v1/decision?{urlencode(query)}"
        try:
            async with self._http().get(url, allow_redirects=False) as r:
                status, ctype = r.status, r.headers.get("content-type", "")
                chunks: list[bytes] = []
                size = 0
                async for chunk in r.content.iter_chunked(16 * 1024):
                    size += len(chunk)
                    if size > MAX_ANSWER:  # stop reading: a decision is never this big
                        raise ConsentAnswerInvalid(f"the consent service's answer is over "
                                                   f"{MAX_ANSWER} bytes")
                    chunks.append(chunk)
                body = b"".join(chunks)
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise ConsentUnavailable(f"consent service unreachable at {self.base_url}: "
                                     f"{type(e).__name__}") from e
        try:
            data = orjson.loads(body) if "json" in ctype else None
        except orjson.JSONDecodeError:
            data = None
        if status == 200:
            return _decision(data)
        if 400 <= status < 500 and isinstance(data, dict) and isinstance(
                data.get("type"), str) and data["type"].lower().startswith("client."):
            # the request itself was refused: the caller is told why, as it was said
            raise RelayedError(normalise_code(data["type"]), str(data.get("message", ""))[:500],
                               status=status, detail=str(data.get("detail", ""))[:100])
        what = data.get("type") if isinstance(data, dict) else None
        raise ConsentUnavailable(f"consent service at {self.base_url} answered HTTP {status}"
                                 + (f" ({str(what)[:80]})" if what else ""))
