"""The e-services inside the portal (docs/spec/portal.md §8).

The portal's pages call the once-only e-services' JSON API (docs/spec/eservices.md §5)
server-side, **through the exchange**: ``{portal gateway}/r1/{e-service}/api/…`` as the
portal's member subsystem, with the logged-in person in ``X-Road-UserId``. The
e-service's gateway lets only granted clients through (the portal is granted each
e-service by the demo) and logs the acting person with every call; the e-service then
takes ``X-Road-UserId`` as the acting person — it trusts its gateway and the clients the
gateway admits, and the portal sets the header only from its own login (OIDC or the
marked demo login), never from the browser.

==============================  ==============================================================
``GET /eservices``              the list: the portal's own e-service pages, then other links
``GET /eservices/company``      found a company: the form
``POST /eservices/company``     → ``POST /api/companies`` ``{name, address}``
``GET /eservices/tax-return``   the prefilled return (``?year=``) → ``GET /api/return``
``POST /eservices/tax-return``  confirm → ``POST /api/return/confirm`` ``{year}``
``GET /eservices/family``       the parent's children → ``GET /api/children``
``POST /eservices/family``      one child's view → ``GET /api/child?code=`` (acting-for)
==============================  ==============================================================

Every POST is CSRF-checked and size-limited (:func:`sild.portal.web.checked_form`); a
form's fields are checked here before the e-service is asked. The e-services act for the
person themself, so while acting for a child only the family page is offered (the
parent is the acting person there).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from sild.core.usage import parse_subject
from sild.errors import SildError
from sild.portal.config import PortalConfig
from sild.portal.exchange import Answer, GatewayClient
from sild.portal.session import Person
from sild.portal.web import BadInput, Forbidden, Renderer, checked_form, field

__all__ = ["TAX_YEARS", "EServicePages"]

MAX_FORM = 4096  # the e-services take at most 4 KiB (eservices.md §2); so do their forms
TAX_YEARS = (2023, 2024, 2025)  # what the tax-return e-service prefills (eservices.md §5)
# label → (page, title) of the e-services the portal has its own page for
PAGES = {"company": ("/eservices/company", "Register a company"),
         "tax-return": ("/eservices/tax-return", "Prefilled income tax return"),
         "family": ("/eservices/family", "My children (parent's view)")}


class EServicePages:
    def __init__(self, config: PortalConfig, gateway: GatewayClient,
                 render: Renderer) -> None:
        self.config = config
        self.gateway = gateway
        self.render = render

    def _service(self, label: str) -> Any:
        service = self.config.eservice_apis.get(label)
        if service is None:
            raise Forbidden("This e-service is not offered by this portal.")
        return service

    @staticmethod
    def _as_self(person: Person) -> str:
        if person.acting_for_other:
            raise Forbidden("This e-service is used as yourself: switch back to yourself "
                            "under Representation first.")
        return person.user_code

    async def _call(self, label: str, method: str, path: str, user: str,
                    body: Any = None) -> Answer:
        return await self.gateway.call(self._service(label), method, path, user=user,
                                       body=body)

    def _failed(self, request: Request, label: str, answer: Answer) -> Response:
        """The e-service said no (or is down): its reason, on the e-service's page."""
        status = 502 if answer.status >= 500 else (answer.status if answer.status in (
            400, 403, 404, 409, 413) else 400)
        return self.render(request, "eservice_error.html", {
            "page": PAGES[label][0], "title": PAGES[label][1], "status": status,
            "error": answer.error, "message": answer.message}, status=status)

    # -- the list --------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        pages = [(PAGES[label][0], PAGES[label][1]) for label in PAGES
                 if label in self.config.eservice_apis]
        return self.render(request, "eservices.html", {"pages": pages,
                                                       "eservices": self.config.eservices})

    # -- register a company ------------------------------------------------------------

    async def company_form(self, request: Request) -> Response:
        self._service("company")
        self._as_self(request.state.person)
        return self.render(request, "es_company.html", {"company": None})

    async def company(self, request: Request) -> Response:
        self._service("company")
        form = await checked_form(request, max_size=MAX_FORM)
        user = self._as_self(request.state.person)
        name = _text(field(form, "name", limit=100), "name")
        address = _text(field(form, "address", limit=200), "address")
        answer = await self._call("company", "POST", "/api/companies", user,
                                  {"name": name, "address": address})
        if not answer.ok or not isinstance(answer.data, dict):
            return self._failed(request, "company", answer)
        return self.render(request, "es_company.html", {"company": answer.data},
                           status=201)

    # -- the prefilled tax return ------------------------------------------------------

    async def tax_return(self, request: Request) -> Response:
        self._service("tax-return")
        user = self._as_self(request.state.person)
        year = _year(request.query_params.get("year", str(TAX_YEARS[-1])))
        answer = await self._call("tax-return", "GET", f"/api/return?year={year}", user)
        if not answer.ok or not isinstance(answer.data, dict):
            return self._failed(request, "tax-return", answer)
        return self.render(request, "es_taxreturn.html", {
            "ret": answer.data, "years": TAX_YEARS, "confirmed": False})

    async def confirm_tax_return(self, request: Request) -> Response:
        self._service("tax-return")
        form = await checked_form(request, max_size=MAX_FORM)
        user = self._as_self(request.state.person)
        year = _year(field(form, "year", limit=4))
        answer = await self._call("tax-return", "POST", "/api/return/confirm", user,
                                  {"year": year})
        if not answer.ok or not isinstance(answer.data, dict):
            return self._failed(request, "tax-return", answer)
        return self.render(request, "es_taxreturn.html", {
            "ret": answer.data, "years": TAX_YEARS, "confirmed": True}, status=201)

    # -- a parent's view of a child ----------------------------------------------------

    async def family(self, request: Request) -> Response:
        self._service("family")
        person: Person = request.state.person
        answer = await self._call("family", "GET", "/api/children", person.user_code)
        if not answer.ok or not isinstance(answer.data, dict):
            return self._failed(request, "family", answer)
        kids = [c for c in answer.data.get("children", []) if isinstance(c, dict)]
        return self.render(request, "es_family.html", {"children": kids, "child": None})

    async def child(self, request: Request) -> Response:
        self._service("family")
        form = await checked_form(request, max_size=MAX_FORM)
        person: Person = request.state.person
        try:
            code = parse_subject(field(form, "personal_code", limit=40))
        except SildError as e:
            raise BadInput(f"personal code: {e.message}") from e
        # The parent is the acting person; the e-service checks the relation itself
        # (population register) and reads nothing of the child when it does not hold.
        answer = await self._call("family", "GET", "/api/child?" + urlencode({"code": code}),
                                  person.user_code)
        if not answer.ok or not isinstance(answer.data, dict):
            return self._failed(request, "family", answer)
        return self.render(request, "es_family.html", {"children": [], "child": answer.data})


def _text(value: str, what: str) -> str:
    if any(ord(c) < 32 for c in value):
        raise BadInput(f"{what}: no control characters")
    return value


def _year(text: str) -> int:
    if not text.isdigit() or int(text) not in TAX_YEARS:
        raise BadInput("year is one of " + ", ".join(str(y) for y in TAX_YEARS))
    return int(text)
