"""A C2SP tlog-witness (c2sp.org/tlog-witness) and the ledger's client for it.

Witness side (docs/spec/ledger.md §9), ``POST /add-checkpoint`` with the body::

    old <size>\\n  <base64 consistency proof lines>  \\n  <signed checkpoint>

1. parse the request (400 if malformed);
2. the origin must be a configured log (404) and the log's signature must verify (403);
3. ``old`` must equal the size this witness last cosigned for the log, else **409
   Conflict** with that size as ``text/x.tlog.size``; a checkpoint smaller than ``old``
   is 400 (a rollback never gets past step 3 or 4);
4. equal sizes need equal roots (409); otherwise the consistency proof from the stored
   root to the new one must verify, else **422 Unprocessable Entity**;
5. persist the new (size, root) atomically — compare-and-swap on the old size — and only
   then return the cosignature line (tlog-cosignature, Ed25519, type 0x04).

Ledger side: :func:`witness_cosigner` asks every configured witness concurrently and
keeps only cosignatures that verify with the witness's configured key.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import Engine

from sild.core._b64 import b64decode_strict, b64encode
from sild.core.checkpoint import Checkpoint, verify_checkpoint
from sild.core.ledger_errors import LedgerFormatError, ProofError
from sild.core.merkle import EMPTY_ROOT, RootHash, verify_consistency
from sild.core.note import (
    COSIGNATURE_V1,
    CosignatureSigner,
    CosignatureVerifier,
    Ed25519Verifier,
    NoteSignature,
    parse_note,
    parse_verifier_key,
)
from sild.errors import (  # re-exported
    BadLogSignature,
    ConfigurationError,
    InconsistentCheckpoint,
    InvalidRequest,
    KeyFileError,
    NotFound,
    RemoteError,
    SignatureError,
    UnknownLog,
    WitnessConflict,
)
from sild.ledger.settings import LedgerSettings
from sild.store import make_engine, migrate
from sild.store.ledger_tables import witness_logs
from sild.web.errors import answer_for
from sild.web.neterrors import describe_network_error
from sild.web.shell import Shell, send_answer

__all__ = [
    "InconsistentCheckpoint",
    "Witness",
    "WitnessConflict",
    "WitnessCosigner",
    "create_witness_app",
    "init_witness",
    "load_cosigner",
    "open_witness",
    "save_cosigner",
]

log = structlog.get_logger("sild.ledger.witness")

MAX_STORED_SIZE = 2**63 - 1  # witness_logs.size is a signed 64-bit integer
MAX_REQUEST = 64 * 1024  # tlog-witness: 63 proof lines and a checkpoint fit easily
_OLD = re.compile(r"old (0|[1-9][0-9]{0,19})")


@dataclass(frozen=True, slots=True)
class AddCheckpoint:
    """A parsed add-checkpoint request body."""

    old: int
    proof: tuple[bytes, ...]
    checkpoint: bytes


def parse_add_checkpoint(body: bytes) -> AddCheckpoint:
    """Step 1: ``old N``, proof lines, an empty line, the checkpoint."""
    head, sep, checkpoint = body.partition(b"\n\n")
    if not sep or not checkpoint:
        raise InvalidRequest("add-checkpoint body has no checkpoint")
    lines = head.decode("ascii", "replace").split("\n")
    m = _OLD.fullmatch(lines[0])
    if m is None:
        raise InvalidRequest("add-checkpoint body must start with 'old <size>'")
    if len(lines) - 1 > 63:
        raise InvalidRequest("consistency proof has more than 63 lines")
    try:
        proof = tuple(b64decode_strict(x, what="consistency proof line") for x in lines[1:])
    except LedgerFormatError as e:
        raise InvalidRequest(str(e)) from e
    return AddCheckpoint(int(m[1]), proof, checkpoint)


class Witness:
    """The state and the cosigning key of one witness."""

    def __init__(
        self,
        *,
        engine: Engine,
        signer: CosignatureSigner,
        logs: Sequence[Ed25519Verifier],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.signer = signer
        self.logs = {k.name: k for k in logs}  # origin = log key name (tlog-checkpoint)
        self.clock = clock
        migrate(engine, "witness")

    def state(self, origin: str) -> tuple[int, RootHash]:
        """The last cosigned (size, root) of a log; (0, empty root) at first."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(witness_logs.c.size, witness_logs.c.root).where(
                    witness_logs.c.origin == origin
                )
            ).first()
        return (0, EMPTY_ROOT) if row is None else (int(row.size), RootHash(bytes(row.root)))

    def add_checkpoint(self, body: bytes) -> bytes:
        """Steps 1–5 of the module docstring; returns the cosignature line."""
        req = parse_add_checkpoint(body)  # (1)
        try:  # (2)
            origin = parse_note(req.checkpoint).text.split("\n", 1)[0]
        except LedgerFormatError as e:
            raise InvalidRequest(f"malformed checkpoint: {e}") from e
        key = self.logs.get(origin)
        if key is None:
            raise UnknownLog(f"unknown log {origin[:100]!r}")
        try:
            cp = verify_checkpoint(req.checkpoint, origin=origin, log_keys=[key]).checkpoint
        except SignatureError as e:
            raise BadLogSignature(f"checkpoint is not signed by {origin}: {e}") from e
        except LedgerFormatError as e:
            raise InvalidRequest(f"malformed checkpoint: {e}") from e
        if cp.size > MAX_STORED_SIZE:  # a BIGINT column: refuse, do not overflow (issue 12)
            raise InvalidRequest(f"checkpoint size {cp.size} is beyond 2^63 - 1")
        size, root = self.state(origin)
        # (3)
        if req.old > cp.size:
            raise InvalidRequest(f"old size {req.old} is larger than the checkpoint's {cp.size}")
        if req.old != size:
            raise WitnessConflict(f"this witness is at size {size}, not {req.old}", size=size)
        # (4)
        if cp.size == size and cp.root != root:
            raise WitnessConflict("same size, different root: a fork", size=size)
        try:
            verify_consistency(
                old_size=size, new_size=cp.size, old_root=root, new_root=cp.root, proof=req.proof
            )
        except ProofError as e:
            raise InconsistentCheckpoint(f"checkpoint is not consistent: {e}") from e
        self._store(origin, size, cp, req.checkpoint)  # (5)
        sig = self.signer.sign(cp.body().encode(), timestamp=int(self.clock()))
        return sig.line().encode()

    def _store(self, origin: str, old: int, cp: Checkpoint, raw: bytes) -> None:
        values = {"size": cp.size, "root": cp.root, "checkpoint": raw}
        with self.engine.begin() as conn:
            done = conn.execute(
                witness_logs.update()
                .where(witness_logs.c.origin == origin)
                .where(witness_logs.c.size == old),
                values,
            )
            if done.rowcount == 1:
                return
            exists = conn.execute(
                sa.select(witness_logs.c.size).where(witness_logs.c.origin == origin)
            ).first()
            if exists is not None or old != 0:
                raise WitnessConflict("the witness moved on meanwhile", size=old)
            conn.execute(witness_logs.insert(), {"origin": origin, **values})


def create_witness_app(witness: Witness) -> Shell:
    """The ASGI app: ``POST /add-checkpoint`` (c2sp.org/tlog-witness)."""

    async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        status, ctype, body = 200, b"text/plain; charset=utf-8", b""
        try:
            if scope["method"] != "POST" or scope["path"] != "/add-checkpoint":
                raise NotFound("only POST /add-checkpoint is served here")
            data = b""
            more = True
            while more:
                msg = await receive()
                data += msg.get("body", b"")
                if len(data) > MAX_REQUEST:
                    raise InvalidRequest("request too large")
                more = msg.get("more_body", False)
            body = await asyncio.to_thread(witness.add_checkpoint, data)
        except WitnessConflict as e:
            status, ctype, body = 409, b"text/x.tlog.size", f"{e.size}\n".encode()
        except (RemoteError, NotFound) as e:  # the one mapper (sild.web.errors)
            answer = answer_for(e)
            await send_answer(send, answer)
            return
        headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return Shell(app, max_body=MAX_REQUEST)  # the one web shell: limit, errors, /metrics


# --- keys ----------------------------------------------------------------------------------


def save_cosigner(path: Path, name: str) -> CosignatureSigner:
    """Make a witness key; the file holds ``PRIVATE+KEY+<name>+<id>+base64(0x04 || seed)``."""
    key = Ed25519PrivateKey.generate()
    signer = CosignatureSigner(name, key)
    seed = base64.b64encode(bytes([COSIGNATURE_V1]) + key.private_bytes_raw()).decode()
    path.write_text(f"PRIVATE+KEY+{name}+{signer.verifier().key_id:08x}+{seed}\n")
    path.chmod(0o600)
    return signer


def load_cosigner(path: Path) -> CosignatureSigner:
    """Read a key written by :func:`save_cosigner`."""
    try:
        _, _, name, hex_id, seed64 = path.read_text().strip().split("+", 4)
        raw = b64decode_strict(seed64, what="witness key")
        if len(raw) != 33 or raw[0] != COSIGNATURE_V1:
            raise LedgerFormatError("not a cosignature key")
        signer = CosignatureSigner(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
    except (OSError, ValueError, LedgerFormatError) as e:
        raise KeyFileError(f"cannot read witness key {path}: {e}") from e
    if f"{signer.verifier().key_id:08x}" != hex_id:
        raise KeyFileError(f"witness key {path}: key ID does not match")
    return signer


# --- the ledger's side -----------------------------------------------------------------------


class WitnessCosigner:
    """A :data:`~sild.ledger.service.Cosigner` asking every configured witness at once."""

    def __init__(self, settings: LedgerSettings) -> None:
        self.settings = settings
        self.known: dict[str, int] = {}  # witness URL → the size it last cosigned
        self._session: aiohttp.ClientSession | None = None

    async def aclose(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _one(
        self, url: str, key: CosignatureVerifier, note: bytes, proof: Callable[[int], list[bytes]]
    ) -> NoteSignature | None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        text = parse_note(note).text.encode()
        for _ in range(2):  # a 409 tells us the witness's size: retry once with it
            old = self.known.get(url, 0)
            try:
                lines = [f"old {old}", *(b64encode(h) for h in proof(old))]
            except ValueError:  # the witness is ahead of us: nothing to prove, log it
                log.error("ledger.witness_ahead", url=url, witness_size=old)
                return None
            body = ("\n".join(lines) + "\n\n").encode() + note
            try:
                async with self._session.post(url + "/add-checkpoint", data=body) as resp:
                    answer = await resp.read()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError) as e:
                log.warning("ledger.witness_unreachable", url=url,
                            error=describe_network_error(e))
                return None
            if status == 409 and answer.strip().isdigit():
                self.known[url] = int(answer.strip())
                continue
            if status != 200:
                log.warning("ledger.witness_refused", url=url, status=status, body=answer[:200])
                return None
            for line in answer.decode("utf-8", "replace").splitlines():
                sig = _cosignature(line, key, text)
                if sig is not None:
                    self.known[url] = int(text.split(b"\n")[1])
                    return sig
            log.warning("ledger.witness_bad_cosignature", url=url)
            return None
        return None

    async def __call__(
        self, note: bytes, size: int, proof: Callable[[int], list[bytes]]
    ) -> list[NoteSignature]:
        """Cosignatures of the witnesses that answered in time with a valid one."""
        timeout = self.settings.limits.witness_timeout_s
        got = await asyncio.gather(
            *(asyncio.wait_for(self._one(w.url, w.key, note, proof), timeout)
              for w in self.settings.witnesses),
            return_exceptions=True,
        )
        return [s for s in got if isinstance(s, NoteSignature)]


def _cosignature(line: str, key: CosignatureVerifier, text: bytes) -> NoteSignature | None:
    """A witness's answer line, if it is a valid cosignature by its configured key."""
    try:
        note = parse_note(b"x\n\n" + line.encode() + b"\n")
    except LedgerFormatError:
        return None
    for s in note.signatures:
        if (s.name, s.key_id) == (key.name, key.key_id) and key.verify(text, s.signature):
            return s
    return None


# --- a witness folder ------------------------------------------------------------------------


def init_witness(folder: Path, *, name: str, logs: Sequence[str], listen: str) -> str:
    """``witness.json``, ``witness.key`` (0600) and ``witness.vkey``; returns the vkey."""
    if (folder / "witness.json").exists():
        raise ConfigurationError(f"{folder} already holds a witness")
    for vkey in logs:
        if not isinstance(parse_verifier_key(vkey), Ed25519Verifier):
            raise ConfigurationError(f"log key {vkey!r} is not an Ed25519 (0x01) key")
    folder.mkdir(parents=True, exist_ok=True)
    signer = save_cosigner(folder / "witness.key", name)
    vkey = signer.verifier().vkey()
    (folder / "witness.vkey").write_text(vkey + "\n")
    conf = {"logs": list(logs), "database_url": "sqlite:///witness.db", "listen": listen}
    (folder / "witness.json").write_text(json.dumps(conf, indent=2) + "\n")
    return vkey


def open_witness(folder: Path) -> tuple[Witness, str]:
    """The witness of a folder and its listen address."""
    try:
        conf = json.loads((folder / "witness.json").read_text())
        logs = [parse_verifier_key(v) for v in conf["logs"]]
        url = str(conf.get("database_url", "sqlite:///witness.db"))
    except (OSError, ValueError, KeyError, LedgerFormatError) as e:
        raise ConfigurationError(f"cannot read {folder / 'witness.json'}: {e}") from e
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        url = f"sqlite:///{folder / url[len('sqlite:///'):]}"
    keys = [k for k in logs if isinstance(k, Ed25519Verifier)]
    witness = Witness(engine=make_engine(url), signer=load_cosigner(folder / "witness.key"),
                      logs=keys)
    return witness, str(conf.get("listen", "127.0.0.1:8471"))
