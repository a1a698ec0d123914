"""Asking every register's tracker about one person, through the portal's own gateway
(docs/spec/portal-usage.md §1; tracker.md §5.1 findUsage v2 and §3.3 usageProof).

For each register, concurrently: ``GET /r1/{findUsage service}/v2/findUsage`` (every
page) and ``GET /r1/{findUsage service}/sild/v1/usageProof?anchor=1``, with
``X-Road-Client`` the portal's member subsystem and ``X-Road-UserId`` the logged-in
person (``EE`` + code), as findUsage requires. A register that does not answer, or
answers with an error or nonsense, becomes a :class:`RegisterAnswer` with ``error``;
the others still show.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol
from urllib.parse import urlencode

import orjson

from sild.core.identifiers import ServiceId, parse_client
from sild.core.usage import parse_subject
from sild.core.verification import TrustPolicy
from sild.errors import ConfigurationError, SildError
from sild.portal.usage_model import RegisterAnswer, entries_from_find

__all__ = ["FIND_LIMIT", "MAX_PER_REGISTER", "HttpUsageSource", "TrackerRef", "UsageSource",
           "user_code"]

FIND_LIMIT = 5000  # one findUsage page (the protocol allows 10,000: 1.5 MB of JSON)
MAX_PER_REGISTER = 50_000  # usages read per register; the page says when there are more
TIMEOUT = 10.0  # seconds for one register; a slow register must not hold the page longer
MAX_ANSWER = 64 * 1024 * 1024  # as `sild tracker verify` reads a proof (MAX_PROOF)


class TrackerRef(NamedTuple):
    """A register as the portal shows it, and its findUsage service on its gateway."""

    label: str  # e.g. "population"
    service: str  # e.g. "EE/GOV/70000001/population/findUsage"


class UsageSource(Protocol):
    """What the timeline's pages need from the trackers (an in-memory one for tests:
    :class:`sild.portal.usage_memory.MemoryUsageSource`)."""

    @property
    def labels(self) -> tuple[str, ...]: ...

    @property
    def policy(self) -> TrustPolicy | None: ...

    async def answers(self, *, subject: str, user: str) -> list[RegisterAnswer]: ...

    async def proof(self, label: str, *, subject: str, user: str) -> bytes: ...


def user_code(code: str) -> str:
    """``EE38001085718`` from a bare code or one with its country (checked)."""
    text = code.strip()
    return parse_subject(text if text[:2].isalpha() else "EE" + text)


def _why(status: int, body: bytes) -> str:
    try:
        err = orjson.loads(body)
        detail = f"{err.get('type', '')}: {err.get('message', '')}".strip(": ")
    except (orjson.JSONDecodeError, AttributeError):
        detail = ""
    return f"HTTP {status}" + (f" ({detail[:200]})" if detail else "")


class HttpUsageSource:
    """findUsage v2 and usageProof of every tracker, through one gateway (aiohttp)."""

    def __init__(self, gateway_url: str, client: str, trackers: Sequence[TrackerRef |
                 tuple[str, str]], *, tls: ssl.SSLContext | None = None,
                 policy: TrustPolicy | None = None, timeout: float = TIMEOUT) -> None:
        try:  # parse at the edge, once (STYLE §3)
            self.client = str(parse_client(client))
            refs = [TrackerRef(*t) for t in trackers]
            self._services = {r.label: ServiceId.parse(r.service) for r in refs}
        except SildError as e:
            raise ConfigurationError(f"usage trackers: {e.message}") from e
        if len(self._services) != len(refs):
            raise ConfigurationError("usage trackers: two registers with the same label")
        if not all(r.label and len(r.label) <= 64 and r.label.isprintable() for r in refs):
            raise ConfigurationError("usage trackers: a label must be 1–64 printable "
                                     "characters")
        self.gateway_url = gateway_url.rstrip("/")
        self.tls = tls
        self.timeout = timeout
        self._policy = policy
        self._labels = tuple(r.label for r in refs)

    @property
    def labels(self) -> tuple[str, ...]:
        return self._labels

    @property
    def policy(self) -> TrustPolicy | None:
        return self._policy

    def _open(self) -> Any:
        """One HTTP session per page: its connections to the gateway are reused by the
        page's concurrent calls and closed with it, so nothing is left open when the
        portal stops (it need not call :meth:`aclose`)."""
        import aiohttp

        connector = aiohttp.TCPConnector(ssl=self.tls if self.tls is not None else True,
                                         limit=64)
        return aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=self.timeout),
            headers={"X-Road-Client": self.client, "Accept": "application/json"})

    async def aclose(self) -> None:
        """Nothing to close (a session lives for one page); kept for the portal's
        shutdown hook."""

    async def _get(self, session: Any, label: str, path: str, query: dict[str, Any],
                   user: str) -> bytes:
        import aiohttp

        url = (f"{self.gateway_url}/r1/{self._services[label].path()}{path}?"
               f"{urlencode(query)}")
        try:
            async with session.get(url, headers={"X-Road-UserId": user}) as resp:
                chunks, size = [], 0
                async for chunk in resp.content.iter_chunked(256 * 1024):
                    size += len(chunk)
                    if size > MAX_ANSWER:
                        raise _NoAnswer("the answer is too large")
                    chunks.append(chunk)
                body = b"".join(chunks)
                if resp.status != 200:
                    raise _NoAnswer(_why(resp.status, body))
        except TimeoutError as e:  # before OSError: TimeoutError is one
            raise _NoAnswer(f"no answer within {self.timeout:g} s") from e
        except (aiohttp.ClientError, OSError) as e:
            raise _NoAnswer(f"cannot reach the gateway ({type(e).__name__})") from e
        return body

    async def _find(self, session: Any, label: str, subject: str, user: str
                    ) -> tuple[int, list[Any]]:
        def parsed(body: bytes) -> tuple[int, list[Any]]:
            try:
                total, entries = entries_from_find(label, orjson.loads(body))
            except (orjson.JSONDecodeError, ValueError) as e:
                raise _NoAnswer(f"a malformed findUsage answer ({e})") from e
            return total, entries

        first = {"userCode": subject, "offset": 0, "limit": FIND_LIMIT}
        total, entries = parsed(await self._get(session, label, "/v2/findUsage", first, user))
        upto = min(total, MAX_PER_REGISTER)
        rest = await asyncio.gather(*(
            self._get(session, label, "/v2/findUsage", {
                "userCode": subject, "offset": offset, "limit": FIND_LIMIT}, user)
            for offset in range(FIND_LIMIT, upto, FIND_LIMIT)))
        for body in rest:
            entries += parsed(body)[1]
        return total, entries

    async def _answer(self, session: Any, label: str, subject: str, user: str
                      ) -> RegisterAnswer:
        find, proof = await asyncio.gather(
            self._find(session, label, subject, user),
            self._get(session, label, "/sild/v1/usageProof",
                      {"userCode": subject, "anchor": 1}, user),
            return_exceptions=True)
        if isinstance(find, BaseException):
            if not isinstance(find, _NoAnswer):
                raise find
            return RegisterAnswer(label, error=str(find))
        total, entries = find
        doc: Any = None
        proof_error = None
        if isinstance(proof, _NoAnswer):
            proof_error = str(proof)
        elif isinstance(proof, BaseException):
            raise proof
        else:
            try:
                doc = orjson.loads(proof)
            except orjson.JSONDecodeError:
                proof_error = "the proof is not JSON"
            if doc is not None and not isinstance(doc, dict):
                doc, proof_error = None, "the proof is not a JSON object"
        return RegisterAnswer(label, tuple(entries), total, proof=doc, proof_error=proof_error,
                              proof_raw=proof if doc is not None else b"")

    async def answers(self, *, subject: str, user: str) -> list[RegisterAnswer]:
        """Every register's answer about ``subject`` asked by ``user`` (codes with or
        without ``EE``), in the configured order."""
        who, by = user_code(subject), user_code(user)
        async with self._open() as session:
            return list(await asyncio.gather(*(self._answer(session, label, who, by)
                                               for label in self._labels)))

    async def proof(self, label: str, *, subject: str, user: str) -> bytes:
        """The register's proof document as it sent it (for download and
        ``sild tracker verify``); :class:`LookupError` for an unknown register,
        :class:`ConnectionError` when it does not answer."""
        if label not in self._services:
            raise LookupError(label)
        try:
            async with self._open() as session:
                return await self._get(session, label, "/sild/v1/usageProof",
                                       {"userCode": user_code(subject), "anchor": 1},
                                       user_code(user))
        except _NoAnswer as e:
            raise ConnectionError(str(e)) from e


class _NoAnswer(Exception):
    """A register did not answer usefully; its message is shown to the person."""
