"""Attacks on the information-system port (X-Road REST ``/r1/…``; docs/spec/exchange.md).

ACL bypass through path tricks (dot segments, ``%2e%2e``, an encoded ``/``, double
encoding) and header injection (CR/LF, NUL, overlong and duplicated X-Road headers).
"""

from __future__ import annotations

import json

from sild.exercise.model import Attack, Outcome, Result
from sild.exercise.rawhttp import RawAnswer, raw_request
from sild.exercise.target import Target

__all__ = ["ATTACKS"]

# From a client that is not granted the service: reach it through another path.
_DETOURS = ("listMethods/../{svc}/1", "listMethods/%2e%2e/{svc}/1", "listMethods%2F..%2F{svc}/1",
            "listMethods/%252e%252e/{svc}/1", "x/./../{svc}/1", "{svc}%2F1")
# From the granted client: leave the service's base path at the provider's IS.
_ESCAPES = ("{svc}/../../hello", "{svc}/%2e%2e/%2e%2e/hello", "{svc}/..%2F..%2Fhello",
            "{svc}/%252e%252e%252f%252e%252e%252fhello", "{svc}/%2F%2Fevil.example/x")


def _echoed_path(answer: RawAnswer) -> str:
    try:
        data = json.loads(answer.body)
    except (ValueError, UnicodeDecodeError):
        return ""
    return str(data.get("path", "")) if isinstance(data, dict) else ""


async def acl_path_tricks(t: Target) -> Result:
    a = PATH_TRICKS
    sub = t.service.subsystem.path()
    seen: list[str] = []
    for trick in _DETOURS:
        url = f"/r1/{sub}/" + trick.format(svc=t.service.service_code)
        ans = await raw_request(t.consumer.is_listen, url,
                                [(b"X-Road-Client", str(t.other_client).encode())])
        served = ans.header("X-Road-Service")
        if ans.status == 200 and (served == str(t.service) or _echoed_path(ans)):
            return a.result(Outcome.UNDETECTED, "nothing",
                            f"{url} as {t.other_client}: HTTP 200 {served} {_echoed_path(ans)}")
        # a metaservice (listMethods) answering for itself is no bypass
        seen.append(ans.evidence() + (f" (answered as {served})" if ans.status == 200 else ""))
    for trick in _ESCAPES:
        url = f"/r1/{sub}/" + trick.format(svc=t.service.service_code)
        ans = await raw_request(t.consumer.is_listen, url,
                                [(b"X-Road-Client", str(t.client).encode())])
        path = _echoed_path(ans)
        if ans.status == 200 and not path.startswith(f"/echo/{t.service.service_code}/"):
            return a.result(Outcome.UNDETECTED, "nothing",
                            f"{url} as {t.client}: reached {path or ans.body[:80]!r}")
        seen.append(ans.evidence() + (f" (stayed in {path})" if ans.status == 200 else ""))
    return a.result(Outcome.STOPPED, "path validation and access rights (consumer and "
                    "provider gateway)", f"{len(seen)} tricks: " + "; ".join(sorted(set(seen))))


def _injections(t: Target) -> list[tuple[str, list[tuple[bytes, bytes]]]]:
    other, client = str(t.other_client).encode(), str(t.client).encode()
    return [
        ("CR/LF in X-Road-Client", [(b"X-Road-Client", other + b"\rX-Road-Client: " + client)]),
        ("NUL in X-Road-Client", [(b"X-Road-Client", client + b"\x00")]),
        ("obs-fold continuation", [(b"X-Road-Client", other), (b" " + client, b"")]),
        ("overlong X-Road-Client", [(b"X-Road-Client", client + b"x" * 70_000)]),
        ("overlong X-Road-UserId", [(b"X-Road-Client", other),
                                    (b"X-Road-UserId", b"EE" + b"1" * 70_000)]),
        ("NUL in header name", [(b"X-Road-Cli\x00ent", client)]),
    ]


async def header_injection(t: Target) -> Result:
    a = HEADER_INJECTION
    url = f"/r1/{t.service.path()}/1"
    seen: list[str] = []
    other_client = str(t.other_client).encode()
    for name, headers in _injections(t):
        ans = await raw_request(t.consumer.is_listen, url, headers)
        if ans.status == 200 or (ans.status >= 500 and not ans.code):
            return a.result(Outcome.UNDETECTED, "nothing", f"{name}: {ans.evidence()}")
        seen.append(f"{name}: {ans.evidence()}")
    # PR-REST §4: of duplicated X-Road-Client headers the last one wins; the gateway must
    # act (access rights, admission, log) as that one, never as the first.
    ans = await raw_request(t.consumer.is_listen, url, [(b"X-Road-Client", str(t.client).encode()),
                                                        (b"X-Road-Client", other_client)])
    if ans.status == 200 or ans.header("X-Road-Client") not in ("", str(t.other_client)):
        return a.result(Outcome.UNDETECTED, "nothing", f"duplicate X-Road-Client (granted "
                        f"first, refused last): {ans.evidence()} as {ans.header('X-Road-Client')}")
    seen.append(f"duplicate X-Road-Client: {ans.evidence()} (last one wins, PR-REST §4)")
    check = await raw_request(t.consumer.is_listen, url,
                              [(b"X-Road-Client", str(t.client).encode())])
    if check.status != 200:
        return a.result(Outcome.UNDETECTED, "nothing",
                        f"the port stopped serving its granted client: {check.evidence()}")
    return a.result(Outcome.STOPPED, "HTTP parser and header validation (IS port)",
                    "; ".join(seen))


PATH_TRICKS = Attack("is.acl-path-tricks", "access control",
                     "dot segments, %2e%2e, %2F and double encoding past the ACL",
                     acl_path_tricks)
HEADER_INJECTION = Attack("is.header-injection", "access control",
                          "CR/LF, NUL, obs-fold, overlong and duplicate X-Road headers",
                          header_injection)
ATTACKS = (PATH_TRICKS, HEADER_INJECTION)
