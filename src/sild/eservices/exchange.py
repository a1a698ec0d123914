"""How an e-service asks a register: through its own gateway (docs/spec/eservices.md §3).

``GET {is_url}/r1/{service}/{path}`` with ``X-Road-Client`` (the e-service's subsystem),
``Sild-Data-Subject`` (whose data), ``Sild-Purpose`` (why), ``X-Road-UserId`` (the acting
person, ``EE38001085718``) and, for break-glass, ``Sild-Emergency``. The provider
gateway checks the access right and the subject's locks and records the use for the
data tracker (docs/spec/tracker.md); the e-service never talks to a register directly.

An X-Road error from the exchange is passed on unchanged (:class:`RelayedError`), so a
lock reads ``Server.ServerProxy.AccessDenied`` at the e-service too (as 403); a
register's ``404`` (passed through by the gateway without ``X-Road-Error``) is ``None``
— nothing held — for the caller to judge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import orjson

from sild.core.usage import EMERGENCY_HEADER, PURPOSE_HEADER, SUBJECT_HEADER
from sild.errors import RelayedError, ServiceUnavailable

__all__ = ["RegisterClient"]

_TIMEOUT = aiohttp.ClientTimeout(total=15)
_MAX_ANSWER = 4 * 1024 * 1024


@dataclass
class RegisterClient:
    """One e-service's view of the exchange: its gateway, its subsystem, the services."""

    is_url: str  # the consumer gateway's IS port, http://127.0.0.1:8081
    client: str  # the e-service's subsystem, DEMO/COM/10000001/his
    services: Mapping[str, str]  # register → service id, "population" → DEMO/GOV/…/rr/population
    _session: aiohttp.ClientSession | None = field(default=None, repr=False)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=_TIMEOUT)
        return self._session

    async def get(self, register: str, path: str, *, subject: str, purpose: str, user: str,
                  emergency: str | None = None, query: Mapping[str, str] | None = None
                  ) -> dict[str, Any] | None:
        """The register's JSON answer; ``None`` on its 404; :class:`RelayedError` else."""
        url = f"{self.is_url}/r1/{self.services[register]}/{quote(path.lstrip('/'), safe='/')}"
        if query:
            url += "?" + urlencode(query)
        headers = {"X-Road-Client": self.client, SUBJECT_HEADER: subject,
                   PURPOSE_HEADER: purpose, "X-Road-UserId": user,
                   "Accept": "application/json"}
        if emergency:
            headers[EMERGENCY_HEADER] = emergency
        try:
            async with self._http().get(url, headers=headers) as resp:
                body = await resp.content.read(_MAX_ANSWER)
                status, code = resp.status, resp.headers.get("X-Road-Error")
        except (aiohttp.ClientError, TimeoutError) as e:
            raise ServiceUnavailable(f"the {register} register cannot be reached through "
                                     f"the exchange: {e.__class__.__name__}") from e
        if status == 200 and code is None:
            answer: dict[str, Any] = orjson.loads(body)
            return answer
        if status == 404 and code in (None, "Client.NotFound"):  # the register's own 404
            return None
        try:
            error = orjson.loads(body)
            message, detail = str(error.get("message", "")), str(error.get("detail", ""))
        except (orjson.JSONDecodeError, AttributeError):
            message, detail = body[:200].decode("utf-8", "replace"), ""
        code = code or "Server.ServerProxy.NetworkError"
        # A lock or a missing access right is a refusal, not our failure: 403 here.
        raise RelayedError(code, f"{register} register: {message}",
                           status=403 if code.endswith(".AccessDenied") else status,
                           detail=detail)
