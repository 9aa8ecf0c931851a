"""Rebilly's own OpenAPI schemas (tests/data/rebilly_openapi: one upstream commit) as jsonschema validators.

The root ``openapi.yaml`` declares OpenAPI 3.1, whose schemas are JSON Schema
2020-12: every vendored YAML file becomes a ``referencing`` resource under a
``file://`` URI of its original relative path, so the files' own relative
``$ref``s (``../ResourceId.yaml``) resolve unchanged.  Formats are checked
(``date-time`` by rfc3339-validator, ``uri`` by rfc3986-validator — Rebilly's
``DataExportValidationError`` is a ``oneOf`` that only ``format: uri`` decides —, ``email``).
"""

from __future__ import annotations

import posixpath
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ROOT = Path(__file__).resolve().parent.parent / "data" / "rebilly_openapi"
DATA_EXPORT = "components/schemas/DataExport.yaml"
"""A ``oneOf`` of the per-resource schemas (each with a one-value ``resource`` enum)."""


def uri(relative: str) -> str:
    return (ROOT / relative).as_uri()


@lru_cache(maxsize=None)
def documents() -> dict[str, Any]:
    """Every vendored YAML file by its path relative to ``openapi/``."""
    return {
        path.relative_to(ROOT).as_posix(): yaml.safe_load(path.read_text())
        for path in sorted(ROOT.rglob("*.yaml"))
    }


@lru_cache(maxsize=None)
def registry() -> Registry:
    resources = [
        (uri(relative), Resource.from_contents(document, default_specification=DRAFT202012))
        for relative, document in documents().items()
    ]
    return Registry().with_resources(resources)


def validator(relative: str, pointer: str = "") -> Draft202012Validator:
    """A validator for the schema at ``relative#pointer`` (the snapshot as is: no overlay)."""
    target = uri(relative) + (f"#{pointer}" if pointer else "")
    return Draft202012Validator({"$ref": target}, registry=registry(), format_checker=FormatChecker())


def operation(path_file: str, method: str) -> dict[str, Any]:
    return documents()[f"paths/{path_file}"][method]


def response_schema(path_file: str, method: str, status: int) -> Draft202012Validator | None:
    """Validator of the JSON body an operation documents for ``status`` (following response ``$ref``s)."""
    responses = operation(path_file, method)["responses"]
    entry = responses.get(str(status))
    if entry is None:
        return None
    base = f"paths/{path_file}"
    pointer = f"/{method}/responses/{status}/content/application~1json/schema"
    if "$ref" in entry:
        base = _resolve(base, entry["$ref"])
        pointer = "/content/application~1json/schema"
        if "content" not in documents()[base]:
            return None
    elif "content" not in entry:
        return None
    return validator(base, pointer)


def header_schema(name: str) -> dict[str, Any]:
    return documents()[f"components/headers/{name}.yaml"]["schema"]


def parameter_schema(name: str) -> dict[str, Any]:
    return documents()[f"components/parameters/{name}.yaml"]["schema"]


def _resolve(base: str, ref: str) -> str:
    return posixpath.normpath(posixpath.join(posixpath.dirname(base), ref))


def resource_schema_path(resource: str) -> str:
    """The file ``DataExport.discriminator.mapping`` names for ``resource``."""
    mapping = documents()[DATA_EXPORT]["discriminator"]["mapping"]
    return _resolve(DATA_EXPORT, mapping[resource])


def discriminated(resource: str) -> Draft202012Validator:
    """The per-resource schema alone (sharper errors than the ``oneOf``)."""
    return validator(resource_schema_path(resource))


def declared_for(resource: str) -> dict[str, Any]:
    """Properties a ``resource`` export declares, with ``$ref``ed members (``arguments``, ``recurring``) inlined
    one level so that their own ``properties`` can be read; ``dateRange`` stays an ``allOf``."""
    path = resource_schema_path(resource)
    properties = dict(documents()[path]["properties"])
    for name, member in list(properties.items()):
        if isinstance(member, dict) and set(member) == {"$ref"}:
            properties[name] = documents()[_resolve(path, member["$ref"])]
    return properties


def member_properties(resource: str, member: str) -> set[str]:
    """The property names of a structured member (``arguments``, ``dateRange``, ``recurring``)."""
    declared = declared_for(resource)[member]
    names = set(declared.get("properties", {}))
    for part in declared.get("allOf", []):
        target = documents()[_resolve(resource_schema_path(resource), part["$ref"])] if "$ref" in part else part
        names |= set(target.get("properties", {}))
    return names


def read_only_properties(resource: str = "transactions") -> set[str]:
    """Properties the ``resource`` schema marks ``readOnly`` (directly or in the file it ``$ref``s)."""
    return {name for name, spec in declared_for(resource).items() if spec.get("readOnly")}
