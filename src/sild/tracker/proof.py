"""Building a usage proof for one person and period (docs/spec/tracker.md §3.3).

The document lists, oldest first, the record just before the period (when there is
one and it was not expired), then every record of the chain up to its head: records of
the period that the person may see with their content, sealed records and those after
the period as digests. :func:`sild.core.usage_proof.verify_usage_proof` checks it.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from sild.core.timefmt import format_micros
from sild.core.usage import CHAIN_START
from sild.core.usage_proof import PROOF_TYPE
from sild.tracker.anchor_proof import anchored_head
from sild.tracker.store import Usage, UsageStore

__all__ = ["usage_proof"]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _item(u: Usage, *, visible: bool) -> dict[str, Any]:
    at = format_micros(u.logged_at)
    item: dict[str, Any] = {"seq": u.seq, "logged_at": at, "chain": _b64(u.chain)}
    if visible and not u.hidden:
        item["content"] = u.record().content(u.seq, u.logged_at).content()
    else:
        item["digest"] = _b64(u.record().content(u.seq, u.logged_at).digest())
        item["sealed"] = u.sealed  # as stored: bound by the record hash (§3.1)
    return item


def usage_proof(store: UsageStore, register: str, subject: str, *,
                start: datetime | None = None, end: datetime | None = None,
                anchor: bool = False) -> dict[str, Any]:
    """The proof document for ``subject`` in ``register`` over [start, end].

    With ``anchor`` (§3.4) the head is the newest *anchored* one, proven by the
    ``anchor`` section; records after it are listed under ``unanchored``.
    """
    anchored = anchored_head(store.engine, register, subject) if anchor else None
    head_seq, head_chain = store.head(register, subject)
    first = 1
    if start is not None:
        found = store.first_seq_from(register, subject, start)
        first = found if found is not None else head_seq + 1
    # Show the record before the period, and read the one before that for its chain.
    begin = max(first - 1, 1)
    if anchored is not None and anchored.seq < begin - 1:
        begin = anchored.seq + 1  # the period starts after the anchored head: list from it
    rows = store.chain(register, subject, from_seq=max(begin - 1, 1))
    by_seq = {u.seq: u for u in rows}
    base_seq, base_chain = begin - 1, CHAIN_START
    expired = False
    cut = store.cutoff(register, subject)
    if cut is not None and begin <= cut[0]:  # the period reaches into expired records
        base_seq, base_chain, expired = cut[0], cut[1], True
    elif anchored is not None and base_seq == anchored.seq:
        base_chain = anchored.chain
    elif base_seq > 0:
        before = by_seq.get(base_seq)
        if before is not None:
            base_chain = before.chain
        elif cut is not None and cut[0] == base_seq:  # the last expired record
            base_chain = cut[1]
    s, e = (format_micros(t) if t is not None else None for t in (start, end))
    listed = [u for u in rows if u.seq > base_seq]
    records = [_item(u, visible=(s is None or format_micros(u.logged_at) >= s)
                     and (e is None or format_micros(u.logged_at) <= e)) for u in listed]
    doc: dict[str, Any] = {
        "type": PROOF_TYPE, "register": register, "subject": subject,
        "periodStart": s, "periodEnd": e,
        "from": {"seq": base_seq, "chain": _b64(base_chain)},
        "records": records,
        "head": {"seq": head_seq, "chain": _b64(head_chain)},
        "expired": expired,
    }
    if anchor:  # §3.4: the head is the anchored one; later records are not anchored yet
        if anchored is None:
            doc["anchor"] = None
            doc["unanchored"] = []
        else:
            upto = sum(1 for u in listed if u.seq <= anchored.seq)
            doc["records"], doc["unanchored"] = records[:upto], records[upto:]
            doc["head"] = {"seq": anchored.seq, "chain": _b64(anchored.chain)}
            doc["anchor"] = anchored.section
        doc["current"] = {"seq": head_seq, "chain": _b64(head_chain)}
    return doc
