"""Base registries: population, health, business and tax information systems
(docs/spec/registers.md), each with its tables, a REST API and an OpenAPI 3 description,
generated deterministically from a seed and a size (issue #10)."""

from sild.registers.generate import SIZES, generate, write
from sild.registers.openapi import REGISTERS, openapi_document, openapi_json

__all__ = ["REGISTERS", "SIZES", "generate", "openapi_document", "openapi_json", "write"]
