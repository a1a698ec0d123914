"""A :class:`~sild.identity.status.StatusSource` read from an OpenSSL CA database
(``index.txt``, the file ``openssl ca`` keeps and ``openssl ocsp -index`` reads).

docs/spec/ocsp.md §4. One line per certificate, six tab-separated fields::

    V|R|E  expiry(YYMMDDHHMMSSZ)  revocation(YYMMDDHHMMSSZ[,reason])  serial(hex)  file  DN

``V`` valid → good, ``R`` revoked → revoked with its time and reason, ``E`` expired →
good (RFC 6960 §2.2: "good" only says "not revoked"); a serial not in the file →
unknown. The file is read again whenever its size or modification time changes, so a
revocation written to it takes effect in the next answer. A file that cannot be read or
parsed makes every answer ``internalError`` until it is fixed (fail closed: an answer
from stale data could call a revoked certificate good).
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path

from sild.errors import ConfigurationError
from sild.identity.status import StatusAnswer

__all__ = ["IndexFileSource", "parse_index"]

MAX_INDEX = 256 * 1024 * 1024  # a quarter GB is ~1.5 M certificates; bigger is not an index


def _time(text: str, lineno: int) -> datetime:
    for fmt in ("%y%m%d%H%M%SZ", "%Y%m%d%H%M%SZ"):  # UTCTime, GeneralizedTime after 2049
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ConfigurationError(f"index line {lineno}: {text!r} is not a YYMMDDHHMMSSZ time")


def parse_index(text: str) -> dict[int, StatusAnswer]:
    """Serial → answer for every line of an OpenSSL CA database; raises
    :class:`~sild.errors.ConfigurationError` naming the first bad line."""
    out: dict[int, StatusAnswer] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 6 or fields[0] not in ("V", "R", "E"):
            raise ConfigurationError(f"index line {lineno} is not six tab-separated fields "
                                     "starting with V, R or E")
        _time(fields[1], lineno)
        try:
            serial = int(fields[3], 16)
        except ValueError as e:
            raise ConfigurationError(f"index line {lineno}: serial {fields[3]!r} is not "
                                     "hexadecimal") from e
        if fields[0] == "R":
            when, _, reason = fields[2].partition(",")
            out[serial] = StatusAnswer.revoked(_time(when, lineno), reason or "unspecified")
        else:
            out[serial] = StatusAnswer.good()
    return out


class IndexFileSource:
    """Certificate status from an ``index.txt`` file, reloaded when it changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._table: dict[int, StatusAnswer] = {}
        self._error: str | None = None
        self._reload()
        if self._error is not None:
            raise ConfigurationError(self._error)

    def _reload(self) -> None:
        try:
            st = os.stat(self.path)
            stamp = (st.st_size, st.st_mtime_ns)
            if stamp == self._stamp:
                return
            if st.st_size > MAX_INDEX:
                raise ConfigurationError(f"{self.path} is larger than {MAX_INDEX} bytes")
            table = parse_index(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ConfigurationError) as e:
            self._stamp, self._error = None, f"cannot use OCSP index {self.path}: {e}"
            return
        self._stamp, self._table, self._error = stamp, table, None

    def status(self, serial: int) -> StatusAnswer:
        """The certificate's status as the file says now (RFC 6960 §2.2)."""
        with self._lock:
            self._reload()
            if self._error is not None:
                raise ConfigurationError(self._error)
            return self._table.get(serial) or StatusAnswer.unknown()
