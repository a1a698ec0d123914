"""Once-only e-services of the demo country (issue #10; docs/spec/eservices.md).

Each is a consumer information system behind its organisation's gateway: a small
Starlette app with a JSON API and a minimal HTML page that asks the base registries
(:mod:`sild.registers`) through the exchange — never the citizen — naming the data
subject, the purpose and the acting person, so every fetch shows in the person's
``findUsage`` with its purpose.
"""

from sild.eservices.exchange import RegisterClient

__all__ = ["RegisterClient"]
