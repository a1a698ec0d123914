"""What the portal fetches, and how (docs/spec/portal.md §3).

The registers are reached only through the portal's OWN gateway, as an X-Road REST
client (``GET {gateway}/r1/{service}/{path}`` with ``X-Road-Client`` = the portal's
member subsystem, ``X-Road-UserId`` = the logged-in person, ``Sild-Data-Subject`` = the
person whose data is shown and ``Sild-Purpose``). Nothing fetched is stored: every page
asks again (once-only: the registers hold the data, the portal copies nothing).

The consent and notification services are reached through their person-facing
management APIs (docs/spec/consent.md §5, docs/spec/notify.md §4.3) with the bearer
token their operator gave the portal, until those services take per-person assertions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from sild.core.identifiers import ServiceId, SubsystemId
from sild.portal.config import ServiceApi

__all__ = ["Answer", "GatewayClient", "ManagementClient"]

MAX_ANSWER = 1024 * 1024  # a register's answer about one person is a few KiB


@dataclass(frozen=True)
class Answer:
    """A register's or a service's answer: ``data`` on success, else ``error``."""

    status: int
    data: Any = None
    error: str = ""  # the X-Road error code (``Server.ServerProxy.AccessDenied``) or a reason
    message: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


async def _answer(resp: aiohttp.ClientResponse) -> Answer:
    raw = await resp.content.read(MAX_ANSWER + 1)
    if len(raw) > MAX_ANSWER:
        return Answer(502, error="TooLarge", message="the answer is too large")
    try:
        data = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return Answer(502, error="NotJson", message="the answer is not JSON")
    if 200 <= resp.status < 300:
        return Answer(resp.status, data)
    code = resp.headers.get("X-Road-Error", "")
    message = ""
    if isinstance(data, dict):
        code = code or str(data.get("type", ""))
        message = str(data.get("message", ""))[:300]
    return Answer(resp.status, error=code or f"HTTP {resp.status}", message=message)


class _Http:
    def __init__(self, timeout: float) -> None:
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(self, method: str, url: str, headers: dict[str, str],
                      body: Any = None) -> Answer:
        data = orjson.dumps(body) if body is not None else None
        if data is not None:
            headers = {**headers, "Content-Type": "application/json"}
        try:
            async with self.http().request(method, url, headers=headers, data=data) as resp:
                return await _answer(resp)
        except (aiohttp.ClientError, TimeoutError) as e:
            return Answer(503, error="Unavailable",
                          message=f"cannot reach the service ({type(e).__name__})")


class GatewayClient(_Http):
    """The portal as an X-Road REST client of its own gateway (ARCHITECTURE.md §4)."""

    def __init__(self, gateway_url: str, client: SubsystemId, *, timeout: float = 10.0) -> None:
        super().__init__(timeout)
        self.gateway_url = gateway_url.rstrip("/")
        self.client = client

    async def get(self, service: ServiceId, path: str, *, subject: str, user: str,
                  purpose: str) -> Answer:
        """``GET /r1/{service}{path}`` about ``subject``, asked by ``user`` (both ``CC…``)."""
        url = f"{self.gateway_url}/r1/{service.path()}{quote(path, safe='/?=&')}"
        return await self.request("GET", url, {
            "X-Road-Client": str(self.client), "X-Road-UserId": user,
            "Sild-Data-Subject": subject, "Sild-Purpose": purpose,
            "Accept": "application/json"})


    async def call(self, service: ServiceId, method: str, path: str, *, user: str,
                   body: Any = None) -> Answer:
        """An e-service's JSON API through the exchange: ``{method} /r1/{service}{path}``
        with ``user`` (``CC…``) as the acting person (docs/spec/portal.md §8)."""
        url = f"{self.gateway_url}/r1/{service.path()}{quote(path, safe='/?=&')}"
        return await self.request(method, url, {
            "X-Road-Client": str(self.client), "X-Road-UserId": user,
            "Accept": "application/json"}, body)


class ManagementClient(_Http):
    """A person-facing management API (consent or notify) with its bearer token."""

    def __init__(self, api: ServiceApi, *, timeout: float = 5.0) -> None:
        super().__init__(timeout)
        self.api = api

    async def call(self, method: str, path: str, body: Any = None) -> Answer:
        return await self.request(method, f"{self.api.url}{quote(path, safe='/?=&')}", {
            "Authorization": f"Bearer {self.api.token}", "Accept": "application/json"},
            body)
