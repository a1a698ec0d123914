"""A doctor's view of a patient (docs/spec/eservices.md §5.3): the clinic's e-service.

The doctor (the acting person) names the patient; the service reads the patient's
identity from the population register and visits and prescriptions from the health
information system. A patient who locked their health data is refused by the Health
Board's gateway (the lock lives in the consent service); with a reason in
``Sild-Emergency`` (or ``?emergency=``) the access is break-glass: allowed to the
clinic (in the emergency group), flagged in the tracker and notified to the patient.
"""

from __future__ import annotations

from functools import partial

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sild.core.usage import MAX_REASON
from sild.errors import InvalidRequest
from sild.eservices.exchange import RegisterClient
from sild.eservices.web import acting_person, build_app, json_answer, page, person
from sild.web.shell import Shell

__all__ = ["PURPOSE", "create_doctor_app"]

PURPOSE = "Treatment of the patient"


def _emergency(request: Request) -> str | None:
    text = request.headers.get("sild-emergency") or request.query_params.get("emergency")
    if text is None or not text.strip():
        return None
    if len(text) > MAX_REASON or any(ord(c) < 32 for c in text):
        raise InvalidRequest(f"the emergency reason must be one line of at most "
                             f"{MAX_REASON} characters")
    return text.strip()


def create_doctor_app(client: RegisterClient) -> Shell:
    async def patient(request: Request) -> Response:
        doctor = acting_person(request)
        code = person(request.query_params.get("code"), "the patient (?code=)")
        emergency = _emergency(request)
        ask = partial(client.get, subject=code, purpose=PURPOSE, user=doctor,
                      emergency=emergency)
        # Health first: a lock refuses before anything else is read.
        visits = await ask("health", f"visits/{code}")
        prescriptions = await ask("health", f"prescriptions/{code}")
        who = await ask("population", f"persons/{code}")
        return json_answer({
            "personalCode": code, "person": who, "breakGlass": emergency is not None,
            "visits": visits["visits"] if visits else [],
            "prescriptions": prescriptions["prescriptions"] if prescriptions else []})

    index = page("Patient record", "A doctor's view of a patient: identity from the "
                 "population register, visits and prescriptions from the health "
                 "information system. A lock refuses; an emergency reason breaks the "
                 "glass (recorded and notified).", action="/api/patient", purpose=PURPOSE,
                 fields=(("user", "Doctor's personal code", ""), ("code", "Patient", ""),
                         ("emergency", "Emergency reason (break-glass)", "")),
                 api=("GET /api/patient?code=EE… (X-Road-UserId: the doctor; "
                      "Sild-Emergency: reason for break-glass)",))
    return build_app([Route("/api/patient", patient, methods=["GET"])], client, index)
