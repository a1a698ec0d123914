"""A parent's view of a child (docs/spec/eservices.md §5.5): the state portal's family
service, run by the Information System Authority.

Representation comes from the population register's family relations: the acting
person may see a child's data only if ``/persons/{parent}/children`` lists that child
and the child is a minor. Otherwise: ``Client.EServiceNoRepresentation`` (403), and
nothing of the child is read.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sild.clock import utc_now
from sild.errors import NoRepresentation
from sild.eservices.exchange import RegisterClient
from sild.eservices.web import acting_person, build_app, json_answer, page, person
from sild.web.shell import Shell

__all__ = ["PURPOSE", "create_family_app"]

PURPOSE = "Parent acting for a minor child (Family Law Act §116)"


def _minor(birth: str, today: dt.date) -> bool:
    born = dt.date.fromisoformat(birth)
    return (today.year - born.year - ((today.month, today.day) < (born.month, born.day))) < 18


def create_family_app(client: RegisterClient) -> Shell:
    async def children_of(parent: str) -> list[dict[str, Any]]:
        answer = await client.get("population", f"persons/{parent}/children",
                                  subject=parent, purpose=PURPOSE, user=parent)
        return [{**c, "minor": _minor(c["birthDate"], utc_now().date())}
                for c in (answer["persons"] if answer else [])]

    async def children(request: Request) -> Response:
        parent = acting_person(request)
        return json_answer({"personalCode": parent, "children": await children_of(parent)})

    async def child(request: Request) -> Response:
        parent = acting_person(request)
        code = person(request.query_params.get("code"), "the child (?code=)")
        mine = {c["personalCode"]: c for c in await children_of(parent)}
        if code not in mine:
            raise NoRepresentation("the population register does not list this person as "
                                   "your child")
        if not mine[code]["minor"]:
            raise NoRepresentation("this child is an adult: a parent no longer represents "
                                   "them")
        visits = await client.get("health", f"visits/{code}", subject=code,
                                  purpose=PURPOSE, user=parent)
        return json_answer({"personalCode": code, "person": mine[code],
                            "visits": visits["visits"] if visits else []})

    index = page("My children", "A parent's view of their minor children: who they are "
                 "from the population register's family relations, their health visits "
                 "from the health information system.", action="/api/child",
                 purpose=PURPOSE,
                 fields=(("user", "Your personal code", ""), ("code", "Child", "")),
                 api=("GET /api/children (X-Road-UserId: the parent)",
                      "GET /api/child?code=EE… (X-Road-UserId: the parent)"))
    return build_app([Route("/api/children", children, methods=["GET"]),
                      Route("/api/child", child, methods=["GET"])], client, index)
