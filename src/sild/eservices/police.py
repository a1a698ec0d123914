"""A police check (docs/spec/eservices.md §5.4): the Police and Border Guard's e-service.

Identity, vehicles and land of a person, each from its register through the exchange.
The police subsystem is in the registry's covert group, so the providers' tracker
seals these records: the person's ``findUsage`` does not show them until unsealed
(docs/spec/tracker.md), while the operator sees them with ``sild tracker sealed``.
"""

from __future__ import annotations

from functools import partial

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sild.errors import InvalidRequest
from sild.eservices.exchange import RegisterClient
from sild.eservices.web import acting_person, build_app, json_answer, page, person
from sild.web.shell import Shell

__all__ = ["PURPOSE", "create_police_app"]

PURPOSE = "Pre-trial investigation"
_MAX_CASE = 40


def _case(request: Request) -> str:
    text = (request.query_params.get("case") or "").strip()
    if len(text) > _MAX_CASE or not all(c.isalnum() or c in "-/" for c in text):
        raise InvalidRequest(f"case must be a case number of at most {_MAX_CASE} letters, "
                             "digits, '-' or '/'")
    return text


def create_police_app(client: RegisterClient) -> Shell:
    async def check(request: Request) -> Response:
        officer = acting_person(request)
        code = person(request.query_params.get("code"), "the person checked (?code=)")
        case = _case(request)
        ask = partial(client.get, subject=code, user=officer,
                      purpose=f"{PURPOSE}, case {case}" if case else PURPOSE)
        who = await ask("population", f"persons/{code}")
        vehicles = await ask("vehicles", f"vehicles/{code}")
        land = await ask("land", f"properties/{code}")
        return json_answer({
            "personalCode": code, "case": case or None, "person": who,
            "vehicles": vehicles["vehicles"] if vehicles else [],
            "properties": land["properties"] if land else []})

    index = page("Police check", "Identity, vehicles and land of a person for an "
                 "investigation. Recorded for the data tracker, sealed from the person "
                 "(the police are in the covert group).", action="/api/check",
                 purpose=PURPOSE,
                 fields=(("user", "Officer's personal code", ""), ("code", "Person", ""),
                         ("case", "Case number", "")),
                 api=("GET /api/check?code=EE…&case=… (X-Road-UserId: the officer)",))
    return build_app([Route("/api/check", check, methods=["GET"])], client, index)
