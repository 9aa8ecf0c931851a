"""Rebilly's own OpenAPI schemas (vendored in tests/data/rebilly_openapi) as jsonschema validators.

The root ``openapi.yaml`` declares OpenAPI 3.1, whose schemas are JSON Schema
2020-12: every vendored YAML file becomes a ``referencing`` resource under a
``file://`` URI of its original relative path, so the files' own relative
``$ref``s (``../ResourceId.yaml``) resolve unchanged.  Formats are checked
(``date-time`` by rfc3339-validator, ``email``).
"""

from __future__ import annotations

import copy
import posixpath
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ROOT = Path(__file__).resolve().parent.parent / "data" / "rebilly_openapi"
DATA_EXPORT = "components/schemas/DataExports/DataExport.yaml"


def uri(relative: str) -> str:
    return (ROOT / relative).as_uri()


@lru_cache(maxsize=None)
def documents() -> dict[str, Any]:
    """Every vendored YAML file by its path relative to ``openapi/``."""
    return {
        path.relative_to(ROOT).as_posix(): yaml.safe_load(path.read_text())
        for path in sorted(ROOT.rglob("*.yaml"))
    }


def registry(overrides: dict[str, Any] | None = None) -> Registry:
    resources = []
    for relative, document in {**documents(), **(overrides or {})}.items():
        resources.append((uri(relative), Resource.from_contents(document, default_specification=DRAFT202012)))
    return Registry().with_resources(resources)


def validator(relative: str, pointer: str = "", *, allow_failed_status: bool = False) -> Draft202012Validator:
    """A validator for the schema at ``relative#pointer``.

    ``allow_failed_status`` applies the one documented overlay (see the data
    README): ``failed`` added to ``DataExport.status`` as in Rebilly's newer spec.
    """
    overrides = {}
    if allow_failed_status:
        patched = copy.deepcopy(documents()[DATA_EXPORT])
        patched["properties"]["status"]["enum"].append("failed")
        overrides[DATA_EXPORT] = patched
    target = uri(relative) + (f"#{pointer}" if pointer else "")
    return Draft202012Validator({"$ref": target}, registry=registry(overrides), format_checker=FormatChecker())


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
    return validator(base, pointer, allow_failed_status=True)


def header_schema(name: str) -> dict[str, Any]:
    return documents()[f"components/headers/{name}.yaml"]["schema"]


def read_only_properties(relative: str = DATA_EXPORT) -> set[str]:
    properties = documents()[relative]["properties"]
    return {name for name, spec in properties.items() if spec.get("readOnly")}


def declared_properties(relative: str = DATA_EXPORT) -> dict[str, Any]:
    return documents()[relative]["properties"]


def _resolve(base: str, ref: str) -> str:
    return posixpath.normpath(posixpath.join(posixpath.dirname(base), ref))


def discriminated(resource: str, *, allow_failed_status: bool = False) -> Draft202012Validator:
    """The schema ``DataExport.discriminator.mapping`` names for ``resource`` (JSON Schema ignores it)."""
    mapping = documents()[DATA_EXPORT]["discriminator"]["mapping"]
    target = posixpath.normpath(posixpath.join(posixpath.dirname(DATA_EXPORT), mapping[resource]))
    return validator(target, allow_failed_status=allow_failed_status)


def declared_for(resource: str) -> dict[str, Any]:
    """Properties a ``resource`` export declares: DataExport's plus its per-resource schema's."""
    mapping = documents()[DATA_EXPORT]["discriminator"]["mapping"]
    target = posixpath.normpath(posixpath.join(posixpath.dirname(DATA_EXPORT), mapping[resource]))
    properties = dict(declared_properties())
    for part in documents()[target]["allOf"]:
        properties.update(part.get("properties", {}))
    properties["dateRange"] = documents()["components/schemas/DataExports/DataExportDateRange.yaml"]
    return properties
