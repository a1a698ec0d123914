"""Endpoints from an OpenAPI 3 description (docs/spec/access.md §4; X-Road UG-SS §6.7).

"When URL type of the REST service is an OpenAPI 3 description, endpoints are
parsed from the service description automatically": every operation under
``paths`` (``get``, ``put``, ``post``, ``delete``, ``options``, ``head``,
``patch``, ``trace``: the OpenAPI 3 Path Item fields) becomes one endpoint.
Path templates become X-Road globs: ``/pet/{petId}`` → ``/pet/*`` (the form
X-Road's ``listMethods`` example shows, research/xroad.md §4.2).

JSON, or YAML when PyYAML is importable (it ships with ``uvicorn[standard]``).
Parsing is pure: bytes in, endpoints out; a malformed document raises
:class:`~sild.errors.InvalidRequest` naming the problem.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sild.core.access import Endpoint
from sild.errors import InvalidRequest

__all__ = ["MAX_OPENAPI_BYTES", "parse_openapi"]

# Large public APIs (e.g. GitHub's) are a few MiB of JSON; 8 MiB bounds what an
# operator can store per service and what every listMethods call may reread.
MAX_OPENAPI_BYTES = 8 * 1024 * 1024
# OpenAPI 3 Path Item Object: the fixed fields that hold operations.
_OPERATIONS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_TEMPLATE = re.compile(r"\{[^{}/]*\}")


def _load(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InvalidRequest("OpenAPI description is not UTF-8 text") from e
    try:
        return json.loads(text)
    except ValueError as json_error:
        try:
            import yaml  # type: ignore[import-untyped]  # optional, no stubs installed
        except ImportError:
            raise InvalidRequest(
                f"OpenAPI description is not valid JSON ({json_error}); "
                "YAML needs PyYAML") from json_error
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise InvalidRequest(
                f"OpenAPI description is neither JSON nor YAML: {str(e).splitlines()[0]}"
            ) from e


def parse_openapi(raw: bytes) -> tuple[Endpoint, ...]:
    """The endpoints of an OpenAPI 3.x description, sorted (``paths`` may be empty)."""
    if len(raw) > MAX_OPENAPI_BYTES:
        raise InvalidRequest(f"OpenAPI description is larger than {MAX_OPENAPI_BYTES} bytes")
    doc = _load(raw)
    if not isinstance(doc, dict):
        raise InvalidRequest("OpenAPI description must be an object at the top level")
    version = doc.get("openapi")
    if not isinstance(version, str) or not version.startswith("3."):
        found = "swagger 2.0" if "swagger" in doc else repr(version)
        raise InvalidRequest(f"only OpenAPI 3.x descriptions are supported (found {found})")
    paths = doc.get("paths")
    if not isinstance(paths, dict):
        raise InvalidRequest("OpenAPI description has no 'paths' object")
    endpoints: set[Endpoint] = set()
    for path, item in paths.items():
        if not isinstance(path, str) or not path.startswith("/"):
            raise InvalidRequest(f"OpenAPI path {path!r} must start with /")
        if not isinstance(item, dict):
            raise InvalidRequest(f"OpenAPI path {path!r}: its value must be an object")
        glob = _TEMPLATE.sub("*", path)
        for method in _OPERATIONS:
            if method in item:
                try:
                    endpoints.add(Endpoint(method.upper(), glob))
                except InvalidRequest as e:
                    raise InvalidRequest(f"OpenAPI path {path!r}: {e}") from e
    return tuple(sorted(endpoints))
