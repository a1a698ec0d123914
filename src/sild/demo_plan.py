"""Who is who in the demo country (issue #10): organisations, their gateways and
subsystems, which register each hosts, and who may ask what. Pure data.

Eight gateways (X-Road's default ports 8080+i, 5500+i, 5566+i, in this order):

==== ============================== =================================================
gw1  Population Register            ``rr``: the population register
gw2  Clinic Ltd                     ``his`` (doctors; the doctor's e-service), ``billing``
gw3  Health Board                   ``tis``: the health information system
gw4  Police and Border Guard        ``polis`` (the police check; covert group)
gw5  Bank                           ``bank``
gw6  Information System Authority   ``datatracker``, ``consent``, ``notify``, ``portal``,
                                    ``family`` (a parent's view of a child)
gw7  Centre of Registers            ``arireg`` business, ``kr`` land, ``liiklus``
                                    vehicles, ``company`` (company registration)
gw8  Tax and Customs Board          ``emta`` tax register and tax office, ``taxreturn``
==== ============================== =================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from sild.core.identifiers import MemberId, ServiceId, SubsystemId
from sild.localnet import GatewaySpec

__all__ = ["CONSUMERS", "ESERVICES", "HOSTS", "INSTANCE", "SPECS", "Host", "eservice_id"]

INSTANCE = "DEMO"


def _spec(cls: str, code: str, name: str, server: str, *subs: str) -> GatewaySpec:
    return GatewaySpec(MemberId(INSTANCE, cls, code), name, server, subs)


REGISTER = _spec("GOV", "70000001", "Population Register", "gw1", "rr")
CLINIC = _spec("COM", "10000001", "Clinic Ltd", "gw2", "his", "billing")
HEALTH = _spec("GOV", "70009770", "Health Board", "gw3", "tis")
POLICE = _spec("GOV", "70008747", "Police and Border Guard", "gw4", "polis")
BANK = _spec("COM", "10137319", "Bank", "gw5", "bank")
RIA = _spec("GOV", "70006317", "Information System Authority", "gw6",
            "datatracker", "consent", "notify", "portal", "family")
RIK = _spec("GOV", "70000310", "Centre of Registers", "gw7", "arireg", "kr", "liiklus",
            "company")
TAX = _spec("GOV", "70000349", "Tax and Customs Board", "gw8", "emta", "taxreturn")
SPECS = (REGISTER, CLINIC, HEALTH, POLICE, BANK, RIA, RIK, TAX)
# role → spec, for DemoCountry.gateways
ROLES = {"population": REGISTER, "clinic": CLINIC, "health": HEALTH, "police": POLICE,
         "bank": BANK, "ria": RIA, "business": RIK, "tax": TAX}


@dataclass(frozen=True)
class Host:
    """Where a register is served and what it holds."""

    spec: GatewaySpec
    subsystem: str
    category: str  # the personal-data category locks and consent apply to
    basis: str  # the legal basis the tracker records
    probe: str  # the path for a person: "persons/{code}"

    @property
    def client(self) -> SubsystemId:
        return SubsystemId(self.spec.member, self.subsystem)

    def service(self, register: str) -> ServiceId:
        return self.client.service(register)


HOSTS = {
    "population": Host(REGISTER, "rr", "population", "Population Register Act §27",
                       "persons/{code}"),
    "health": Host(HEALTH, "tis", "health", "Health Services Organisation Act §59²",
                   "visits/{code}"),
    "business": Host(RIK, "arireg", "business", "Commercial Code §28", "roles/{code}"),
    "tax": Host(TAX, "emta", "tax", "Taxation Act §26", "income/{code}"),
    "vehicles": Host(RIK, "liiklus", "vehicles", "Traffic Act §190", "vehicles/{code}"),
    "land": Host(RIK, "kr", "land", "Land Register Act §74", "properties/{code}"),
}


def _sub(spec: GatewaySpec, code: str) -> SubsystemId:
    return SubsystemId(spec.member, code)


# role → (client subsystem, its gateway role, the registers it may ask)
CONSUMERS: dict[str, tuple[SubsystemId, str, tuple[str, ...]]] = {
    "doctor": (_sub(CLINIC, "his"), "clinic", ("population", "health")),
    "police": (_sub(POLICE, "polis"), "police", ("population", "health", "vehicles", "land")),
    "bank": (_sub(BANK, "bank"), "bank", ("population", "business")),
    "tax": (_sub(TAX, "emta"), "tax", ("population", "tax", "business")),
    "business": (_sub(RIK, "company"), "business", ("population", "business")),
    "taxreturn": (_sub(TAX, "taxreturn"), "tax", ("population", "tax")),
    "parent": (_sub(RIA, "family"), "ria", ("population", "health")),
    "portal": (_sub(RIA, "portal"), "ria", tuple(HOSTS)),
    "tracker": (_sub(RIA, "datatracker"), "ria", ()),
}

# e-service → the consumer role whose subsystem runs it (sild.eservices)
ESERVICES = {"company": "business", "tax-return": "taxreturn", "doctor": "doctor",
             "police": "police", "family": "parent"}


def eservice_id(name: str) -> ServiceId:
    """The e-service as a service of its own subsystem (the portal may call it)."""
    return CONSUMERS[ESERVICES[name]][0].service(name.replace("-", ""))
