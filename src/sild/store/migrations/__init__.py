"""Alembic migrations, one folder and one version table per component.

Components own separate tables (X-Road keeps serverconf, messagelog and the central
server's data apart); they may share one physical database or use several.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import MetaData


def run_migrations(metadata: MetaData) -> None:
    """Body of every component's ``env.py``: migrate on the connection handed in."""
    config = context.config
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=config.attributes["version_table"],
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()
