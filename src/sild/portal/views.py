"""The logged-in pages (docs/spec/portal.md §3, §5): my data, representation, locks and
consents, notifications, e-services.

Every register answer is fetched live through the portal's own gateway for the page
being shown and dropped after rendering; a register that refuses (a lock, no access
right) or is down shows as such in its own box, the rest of the page still renders.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from sild.consent.model import parse_category
from sild.core.usage import parse_subject
from sild.errors import SildError
from sild.portal.config import PortalConfig
from sild.portal.exchange import Answer, GatewayClient, ManagementClient
from sild.portal.session import Person
from sild.portal.web import BadInput, Forbidden, Renderer, checked_form, field

__all__ = ["DATA_PATHS", "Views"]

# register → (what, path template) shown on "My data" (docs/spec/registers.md §4)
DATA_PATHS: dict[str, tuple[tuple[str, str], ...]] = {
    "population": (("person", "/persons/{code}"), ("children", "/persons/{code}/children"),
                   ("parents", "/persons/{code}/parents")),
    "health": (("visits", "/visits/{code}"), ("prescriptions", "/prescriptions/{code}")),
    "business": (("roles", "/roles/{code}"),),
    "tax": (("income", "/income/{code}"),),
    "vehicles": (("vehicles", "/vehicles/{code}"),),
    "land": (("properties", "/properties/{code}"),),
}
PURPOSE = "The person views their own data in the citizen portal"
PURPOSE_FOR_CHILD = "A parent views their child's data in the citizen portal"
PURPOSE_REPRESENT = "Checking the person's right to represent (citizen portal)"
MAX_CONSENT_DAYS = 365
TREATMENT = "Treatment of the patient"  # the purpose a doctor's request names (Sild-Purpose)


class Views:
    def __init__(self, config: PortalConfig, gateway: GatewayClient,
                 consent: ManagementClient | None, notify: ManagementClient | None,
                 render: Renderer) -> None:
        self.config = config
        self.gateway = gateway
        self.consent = consent
        self.notify = notify
        self.render = render

    # -- my data ---------------------------------------------------------------------

    async def _fetch(self, person: Person, register: str, path: str) -> Answer:
        service = self.config.registers[register]
        purpose = PURPOSE_FOR_CHILD if person.acting_for_other else PURPOSE
        return await self.gateway.get(service, path.format(code=person.code),
                                      subject=person.code, user=person.user_code,
                                      purpose=purpose)

    async def data(self, request: Request) -> Response:
        person: Person = request.state.person
        wanted = [(reg, what, path) for reg, items in DATA_PATHS.items()
                  if reg in self.config.registers for what, path in items]
        answers = await asyncio.gather(*(self._fetch(person, reg, path)
                                         for reg, _, path in wanted))
        boxes: dict[str, dict[str, Answer]] = {}
        for (reg, what, _), answer in zip(wanted, answers, strict=True):
            boxes.setdefault(reg, {})[what] = answer
        return self.render(request, "data.html", {"boxes": boxes})

    # -- representation ----------------------------------------------------------------

    async def children(self, user: Person) -> list[dict[str, Any]]:
        """The logged-in person's children, from the population register (live)."""
        if "population" not in self.config.registers:
            return []
        answer = await self.gateway.get(
            self.config.registers["population"], f"/persons/{user.user_code}/children",
            subject=user.user_code, user=user.user_code, purpose=PURPOSE_REPRESENT)
        if not answer.ok or not isinstance(answer.data, dict):
            return []
        return [p for p in answer.data.get("persons", []) if isinstance(p, dict)]

    async def act_for(self, request: Request) -> Response:
        form = await checked_form(request)
        person: Person = request.state.person
        text = field(form, "personal_code", limit=40, required=False)
        if not text or text == person.user_code:
            request.state.session.person = Person(person.user_code, person.user_name,
                                                  person.user_code, person.user_name)
            return RedirectResponse("/data", status_code=303)
        try:
            code = parse_subject(text)
        except SildError as e:
            raise BadInput(f"personal code: {e.message}") from e
        child = next((c for c in await self.children(person)
                      if c.get("personalCode") == code), None)
        if child is None:
            raise Forbidden("You have no right to represent this person: the population "
                            "register does not list them as your child.")
        name = f"{child.get('givenName', '')} {child.get('surname', '')}".strip()
        request.state.session.person = Person(code, name or code, person.user_code,
                                              person.user_name)
        return RedirectResponse("/data", status_code=303)

    async def represent(self, request: Request) -> Response:
        kids = await self.children(request.state.person)
        return self.render(request, "represent.html", {"children": kids})

    # -- locks and consents (docs/spec/consent.md §5) -----------------------------------

    def _consent(self) -> ManagementClient:
        if self.consent is None:
            raise Forbidden("This portal has no consent service configured.")
        return self.consent

    async def locks(self, request: Request) -> Response:
        person: Person = request.state.person
        c = self._consent()
        base = f"/v1/persons/{quote(person.code)}"
        locks, consents = await asyncio.gather(c.call("GET", f"{base}/locks"),
                                               c.call("GET", f"{base}/consents"))
        return self.render(request, "locks.html", {
            "locks": locks, "consents": consents, "doctors": self.config.doctors,
            "categories": [r for r in DATA_PATHS if r != "population"]})

    def _doctor(self, text: str) -> str:
        if not text:
            return ""
        for d in self.config.doctors:
            if d.target == text:
                return d.target
        raise BadInput("choose a doctor from the list")

    async def _done(self, request: Request, answer: Answer) -> Response:
        if not answer.ok:
            return self.render(request, "error.html", {
                "status": answer.status, "message": f"{answer.error}: {answer.message}"},
                status=502 if answer.status >= 500 else 400)
        return RedirectResponse("/locks", status_code=303)

    def _category(self, form: Any) -> str:
        try:
            return parse_category(field(form, "category", limit=32))
        except SildError as e:
            raise BadInput(f"category: {e.message}") from e

    async def lock(self, request: Request) -> Response:
        form = await checked_form(request)
        person: Person = request.state.person
        category = self._category(form)
        action = field(form, "action", limit=10)
        path = f"/v1/persons/{quote(person.code)}/locks/{category}"
        if action == "lock":
            doctor = self._doctor(field(form, "except", limit=200, required=False))
            # The portal itself stays excepted: a person must still see their own data.
            allowed = [str(self.config.client)] + ([doctor] if doctor else [])
            answer = await self._consent().call("PUT", path, {"except": allowed})
        elif action == "unlock":
            answer = await self._consent().call("DELETE", path)
        else:
            raise BadInput("action is lock or unlock")
        return await self._done(request, answer)

    async def grant(self, request: Request) -> Response:
        form = await checked_form(request)
        person: Person = request.state.person
        doctor = self._doctor(field(form, "doctor", limit=200))
        category = self._category(form)
        days = field(form, "days", limit=3)
        if not days.isdigit() or not 1 <= int(days) <= MAX_CONSENT_DAYS:
            raise BadInput(f"days is a whole number from 1 to {MAX_CONSENT_DAYS}")
        expiry = dt.datetime.now(dt.UTC) + dt.timedelta(days=int(days))
        answer = await self._consent().call("POST", f"/v1/persons/{quote(person.code)}/consents",
                                            {"consumer": doctor, "categories": [category],
                                             "purpose": {"code": TREATMENT,
                                                         "text": "Treatment (granted in "
                                                                 "the citizen portal)"},
                                             "consentExpiry": expiry.isoformat(
                                                 timespec="seconds").replace("+00:00", "Z")})
        return await self._done(request, answer)

    async def revoke(self, request: Request) -> Response:
        await checked_form(request)
        person: Person = request.state.person
        cid = request.path_params["cid"]
        if len(cid) > 100 or not all(ch.isalnum() or ch in "-_" for ch in cid):
            raise BadInput("not a consent id")
        answer = await self._consent().call(
            "POST", f"/v1/persons/{quote(person.code)}/consents/{cid}/revoke")
        return await self._done(request, answer)

    # -- notifications (docs/spec/notify.md §4.3) -------------------------------------

    async def _inbox(self, person: Person) -> Answer:
        if self.notify is None:
            return Answer(503, error="NotConfigured", message="no notification service")
        return await self.notify.call("GET", f"/v1/persons/{quote(person.code)}/inbox?limit=50")

    async def subscribe(self, person: Person) -> None:
        """Make sure the person's inbox is subscribed (once per login; errors ignored)."""
        if self.notify is None:
            return
        subs = await self.notify.call("GET", f"/v1/persons/{quote(person.code)}/subscriptions")
        if subs.ok and isinstance(subs.data, dict) and any(
                s.get("kind") == "inbox" for s in subs.data.get("subscriptions", [])
                if isinstance(s, dict)):
            return
        await self.notify.call("POST", f"/v1/persons/{quote(person.code)}/subscriptions",
                               {"inbox": True})

    async def notifications(self, request: Request) -> Response:
        await self.subscribe(request.state.person)
        inbox = await self._inbox(request.state.person)
        return self.render(request, "notifications.html", {"inbox": inbox})

    async def feed(self, request: Request) -> Response:
        """The notices as an HTML fragment, polled by static/portal.js."""
        inbox = await self._inbox(request.state.person)
        return self.render(request, "_feed.html", {"inbox": inbox})
