"""The fuzz suite's verdict on one HTTP answer (tests/fuzz, issue 12).

No traceback, and no 5xx that is not a protocol error: X-Road answers ``Server.*``
codes with HTTP 500 by design, so a 5xx must carry an X-Road error body whose code is not
``Server.InternalError`` (what :class:`sild.web.shell.Shell` answers for an unhandled
exception).
"""

from __future__ import annotations

import json
import re

__all__ = ["EXAMPLES", "TIMEOUT", "check_answer"]

EXAMPLES = 100  # hypothesis examples per test: bounded time (each test ≤ ~60 s)
TIMEOUT = 10.0  # seconds per request: an answer slower than this is a hang


def check_answer(status: int, body: bytes, what: str, *, documented_5xx: bool = False) -> None:
    """No traceback and no 5xx that is not a protocol (X-Road) error.

    ``documented_5xx``: the endpoint answers 5xx by design with its own body (a health
    check reporting "not healthy").
    """
    text = body[:4000].decode("utf-8", "replace")
    assert "Traceback" not in text, (what, text)
    if status < 500 or documented_5xx:
        return
    code = _error_code(body)
    assert code is not None, ("a 5xx without an X-Road error body", what, status, text[:300])
    assert code.startswith("Server."), (what, status, text[:300])
    assert code != "Server.InternalError", ("an unhandled exception", what, text[:300])


def _error_code(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        m = re.search(rb"<type>([^<]{1,200})</type>", body)
        return m[1].decode() if m else None
    return str(data["type"]) if isinstance(data, dict) and "type" in data else None
