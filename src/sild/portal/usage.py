"""The portal's "who used my data" pages (docs/spec/portal-usage.md; issue #10).

=================================  ==================================================
``GET /usage``                     one timeline across all registers, newest first,
                                   paged; filters ``register``, ``org``, ``purpose``,
                                   ``page`` (§2); proof badges per register (§3)
``GET /usage/how``                 "how is this proved": the person's own proof data
                                   in plain words and the ``sild tracker verify``
                                   command to check it independently (§4)
``GET /usage/proof/{register}``    the register's proof document, to download (§4)
=================================  ==================================================

The portal mounts :func:`usage_routes` behind its login guard: every request carries
``request.state.person`` (``.code`` whose data, ``.user_code`` who asks, ``.name``).
Pages are rendered with the portal's :class:`starlette.templating.Jinja2Templates`
(``request.app.state.templates`` unless one is passed), whose context gives ``_``,
``lang`` and ``csrf_token``; templates live in ``templates/usage/`` and extend
``base.html``. Bad query parameters → a 400 page that says which and why.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from sild.errors import InvalidPersonalCode, InvalidRequest
from sild.portal.usage_model import (
    Entry,
    Filters,
    RegisterAnswer,
    mark_included,
    merge,
    sealed_from_proof,
    timeline,
)
from sild.portal.usage_proofs import Badge, ProofChecker
from sild.portal.usage_source import HttpUsageSource, TrackerRef, UsageSource

__all__ = ["HttpUsageSource", "TrackerRef", "UsageSource", "usage_routes"]

log = structlog.get_logger("sild.portal.usage")

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def _person(request: Request) -> tuple[str, str, str]:
    p = request.state.person
    return str(p.code), str(getattr(p, "user_code", p.code)), str(getattr(p, "name", ""))


def _templates(request: Request, given: Jinja2Templates | None) -> Jinja2Templates:
    if given is not None:
        return given
    found: Jinja2Templates = request.app.state.templates
    return found


def _secure(response: Response) -> Response:
    # The portal sets its own CSP on every page; this is the timeline's floor.
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Cache-Control", "no-store")  # personal data
    return response


def _register_view(a: RegisterAnswer, badge: Badge | None, shown: int) -> dict[str, Any]:
    return {"label": a.label, "error": a.error, "badge": badge, "total": a.total,
            "shown": shown, "truncated": a.error is None and shown < a.total,
            "proof_error": a.proof_error, "file": f"usage-proof-{_file_part(a.label)}.json"}


def usage_routes(source: UsageSource, *, templates: Jinja2Templates | None = None,
                 checker: ProofChecker | None = None) -> list[BaseRoute]:
    """The timeline's routes (absolute paths under ``/usage``)."""
    proofs = checker or ProofChecker(source.policy)

    def render(request: Request, name: str, context: dict[str, Any],
               status: int = 200) -> Response:
        return _secure(_templates(request, templates).TemplateResponse(
            request, name, context, status_code=status))

    def bad(request: Request, message: str, status: int = 400) -> Response:
        return render(request, "usage/error.html", {"message": message}, status)

    async def gather(request: Request) -> tuple[list[RegisterAnswer], dict[str, Badge]]:
        code, user, _ = _person(request)
        answers = await source.answers(subject=code, user=user)
        badges = {a.label: proofs.check(a.proof, a.proof_raw) for a in answers
                  if a.error is None}
        return answers, badges

    async def page(request: Request) -> Response:
        try:  # §2.1: the filters first, before any register is asked
            filters = Filters.parse({k: request.query_params.getlist(k)
                                     for k in request.query_params},
                                    registers=source.labels)
        except InvalidRequest as e:
            return bad(request, e.message)
        started = time.perf_counter()
        try:
            code, user, _ = _person(request)
            answers = await source.answers(subject=code, user=user)
        except InvalidPersonalCode as e:
            return bad(request, e.message)
        fetched = time.perf_counter()
        badges = {a.label: proofs.check(a.proof, a.proof_raw) for a in answers
                  if a.error is None}
        verified = time.perf_counter()
        lists: list[list[Entry]] = []
        views = []
        for a in answers:
            badge = badges.get(a.label)
            entries = list(a.entries)
            if a.proof is not None and badge is not None and badge.trusted:
                entries = mark_included(entries, a.proof)  # §3.2 inclusion
                entries += sealed_from_proof(a.label, a.proof)  # §2.3 sealed
            lists.append(entries)
            views.append(_register_view(a, badge, len(a.entries)))
        shown = timeline(merge(lists), filters)
        done = time.perf_counter()
        log.info("usage_timeline", registers=len(answers), entries=shown.matching,
                 failed=[a.label for a in answers if a.error],
                 fetch_ms=round((fetched - started) * 1000, 1),
                 verify_ms=round((verified - fetched) * 1000, 1),
                 merge_ms=round((done - verified) * 1000, 1))

        def url(**change: Any) -> str:
            query = urlencode(filters.query(**change))
            return "/usage" + (f"?{query}" if query else "")

        return render(request, "usage/timeline.html", {
            "page": shown, "filters": filters, "registers": views,
            "labels": source.labels, "page_url": url,
        })

    async def how(request: Request) -> Response:
        try:
            answers, badges = await gather(request)
        except InvalidPersonalCode as e:
            return bad(request, e.message)
        views = []
        for a in answers:
            view = _register_view(a, badges.get(a.label), len(a.entries))
            view["proof"] = _proof_facts(a.proof) if a.proof is not None else None
            views.append(view)
        return render(request, "usage/how.html", {"registers": views})

    async def download(request: Request) -> Response:
        label = request.path_params["register"]
        code, user, _ = _person(request)
        if label not in source.labels:
            return bad(request, f"there is no register called {label!r}", 404)
        try:
            body = await source.proof(label, subject=code, user=user)
        except InvalidPersonalCode as e:
            return bad(request, e.message)
        except ConnectionError as e:
            return bad(request, f"the register {label} did not answer: {e}", 502)
        name = f"usage-proof-{_file_part(label)}.json"  # as the "how" page's command says
        return _secure(Response(body, media_type="application/json", headers={
            "Content-Disposition": f'attachment; filename="{name}"'}))

    return [
        Route("/usage", page, methods=["GET"], name="usage"),
        Route("/usage/how", how, methods=["GET"], name="usage_how"),
        Route("/usage/proof/{register}", download, methods=["GET"], name="usage_proof"),
    ]


def _file_part(label: str) -> str:
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in label)


def _proof_facts(proof: dict[str, Any]) -> dict[str, Any]:
    """What the "how is this proved" page shows of one proof (§4), defensively: the
    proof may be malformed, and its badge already says so."""
    def get(*path: str) -> Any:
        value: Any = proof
        for p in path:
            value = value.get(p) if isinstance(value, dict) else None
        return value

    records = proof.get("records") if isinstance(proof.get("records"), list) else []
    later = proof.get("unanchored") if isinstance(proof.get("unanchored"), list) else []
    return {
        "register": get("register"), "subject": get("subject"),
        "from_seq": get("from", "seq"), "from_chain": get("from", "chain"),
        "head_seq": get("head", "seq"), "head_chain": get("head", "chain"),
        "current_seq": get("current", "seq"),
        "listed": len(records or []), "unanchored": len(later or []),
        "anchored": isinstance(proof.get("anchor"), dict),
        "bucket": get("anchor", "bucket"), "map_root": get("anchor", "mapRoot"),
        "map_entries": get("anchor", "mapEntries"), "round": get("anchor", "round", "id"),
        "round_size": get("anchor", "round", "size"),
        "expired": bool(proof.get("expired")),
    }
