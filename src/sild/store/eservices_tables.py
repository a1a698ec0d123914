"""The once-only e-services' own records (docs/spec/eservices.md §4).

One Alembic component, ``eservices``: what the e-services *write* — companies registered
through the company-registration service and tax returns confirmed. What they read
stays in the registers and is fetched through the exchange each time (once-only).
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["es_companies", "es_tax_returns", "metadata"]

metadata = sa.MetaData()
_code = sa.String(16)  # CC + up to 12 digits, as Sild-Data-Subject

es_companies = sa.Table(
    "es_companies", metadata,
    sa.Column("reg_code", sa.String(8), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("name_key", sa.String(100), nullable=False, unique=True),  # casefolded name
    sa.Column("founder", _code, nullable=False),
    sa.Column("address", sa.String(200), nullable=False),
    sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
)

es_tax_returns = sa.Table(
    "es_tax_returns", metadata,
    sa.Column("person", _code, primary_key=True),
    sa.Column("year", sa.Integer, primary_key=True),
    sa.Column("gross_cents", sa.BigInteger, nullable=False),
    sa.Column("withheld_cents", sa.BigInteger, nullable=False),
    sa.Column("due_cents", sa.BigInteger, nullable=False),  # negative: a refund
    sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
)
