"""Who is who in the enterprise scenario: the private instance, its members, gateways,
systems, services, access rights and background flows. Pure data, read by the steps
printer (:mod:`.steps`) and by the scenario that performs them (:mod:`.scenario`)."""

from __future__ import annotations

from dataclasses import dataclass

from sild.core.identifiers import MemberId, ServiceId, SubsystemId
from sild.localnet import GatewaySpec

__all__ = ["COMPANY", "FLOWS", "GATEWAYS", "HOLDERS", "INSTANCE", "PARTNER", "SERVICES",
           "Flow", "Service", "gateway_of", "service", "subsystem"]

INSTANCE = "KASK"  # a private instance: its own CA, registry and ledger, no government
COMPANY = MemberId(INSTANCE, "COM", "12345678")
PARTNER = MemberId(INSTANCE, "COM", "87654321")
COMPANY_NAME, PARTNER_NAME = "Kask & Partners", "Tamm Logistics"
# Two gateways for the company (head office; finance and sales), one for the partner.
GATEWAYS = (
    GatewaySpec(COMPANY, COMPANY_NAME, "gw1", ("hr", "payroll", "portal")),
    GatewaySpec(COMPANY, COMPANY_NAME, "gw2", ("crm", "accounting")),
    GatewaySpec(PARTNER, PARTNER_NAME, "gw3", ("erp",)),
)


def subsystem(code: str) -> SubsystemId:
    """A subsystem of the scenario by its code (``hr``, ``erp``, …)."""
    for spec in GATEWAYS:
        if code in spec.subsystems:
            return SubsystemId(spec.member, code)
    raise KeyError(code)


def gateway_of(sub: SubsystemId) -> GatewaySpec:
    return next(s for s in GATEWAYS
                if s.member == sub.member and sub.subsystem_code in s.subsystems)


@dataclass(frozen=True)
class Service:
    system: str  # the in-house system (and subsystem) that provides it
    code: str  # the service code (= the system's resource: employees, payslips, …)
    category: str  # personal-data category; "" = not personal data
    legal_basis: str
    clients: tuple[str, ...]  # subsystem codes granted the whole service

    @property
    def id(self) -> ServiceId:
        return subsystem(self.system).service(self.code)


SERVICES = (
    Service("hr", "employees", "employment", "Employment Contracts Act §28",
            ("payroll", "crm")),
    Service("payroll", "payslips", "salary", "Accounting Act §6", ("accounting",)),
    Service("crm", "contacts", "contact", "GDPR Art. 6(1)(f)", ("erp",)),
    Service("accounting", "invoices", "", "", ("erp",)),
)
# Systems whose personal data the portal shows (each serves findUsage to the portal).
HOLDERS = {"hr": "HR system", "payroll": "Payroll", "crm": "CRM"}


@dataclass(frozen=True)
class Flow:
    client: str  # subsystem code of the reader
    service: str  # service code read
    purpose: str
    weight: int


FLOWS = (
    Flow("payroll", "employees", "Monthly payroll run", 4),
    Flow("crm", "employees", "Assigning an account manager", 2),
    Flow("accounting", "payslips", "Booking salary costs", 3),
    Flow("erp", "invoices", "Invoice reconciliation", 2),
    Flow("erp", "contacts", "Delivery contact for an order", 2),
)


def service(code: str) -> Service:
    return next(s for s in SERVICES if s.code == code)
