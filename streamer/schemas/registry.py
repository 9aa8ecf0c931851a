"""The one registry of entity schemas: ``(vendor, entity)`` → :class:`EntitySchema`.

The vendors' schema modules are registered on first lookup (they are plain
data; importing them costs a few Struct definitions), so code that never
types a record never loads them.  Applications may register their own
(``register``), e.g. for ``urls`` exports of an in-house format.
"""

from __future__ import annotations

import importlib
from typing import Any

from streamer.schemas.base import EntitySchema

_VENDOR_MODULES = ("streamer.schemas.mews", "streamer.schemas.logisense", "streamer.schemas.rebilly")
_SCHEMAS: dict[tuple[str, str], EntitySchema] = {}
_VENDOR_DEFAULTS: dict[str, EntitySchema] = {}
_loaded = False


def register(schema: EntitySchema, *, vendor_default: bool = False) -> None:
    """Make ``schema`` the one for its ``(vendor, entity)``.

    ``vendor_default`` also uses it for that vendor's entities of any other
    name: LogiSense parts are named after the user's DataExport, not a fixed
    entity type.
    """
    _SCHEMAS[(schema.vendor, schema.entity)] = schema
    if vendor_default:
        _VENDOR_DEFAULTS[schema.vendor] = schema


def _load_vendors() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for name in _VENDOR_MODULES:
        module = importlib.import_module(name)
        for schema in module.SCHEMAS:
            _SCHEMAS.setdefault((schema.vendor, schema.entity), schema)
        default = getattr(module, "VENDOR_DEFAULT", None)
        if default is not None:
            _VENDOR_DEFAULTS.setdefault(default.vendor, default)


def lookup(vendor: str, entity: str | None) -> EntitySchema | None:
    """The schema of ``vendor``'s ``entity`` records, or ``None`` if streamer knows none."""
    _load_vendors()
    if entity is not None:
        found = _SCHEMAS.get((vendor, entity))
        if found is not None:
            return found
    return _VENDOR_DEFAULTS.get(vendor)


def resolve(ref: str) -> EntitySchema:
    """The schema named ``vendor:Entity`` (as ``--schema`` takes it); a clear error if unknown."""
    vendor, sep, entity = ref.partition(":")
    found = _SCHEMAS.get((vendor, entity)) if sep else None
    if found is None:
        _load_vendors()
        found = _SCHEMAS.get((vendor, entity)) if sep else None
    if found is None:
        raise ValueError(f"unknown schema {ref!r}: expected vendor:Entity, one of {', '.join(names()[:12])}, ...")
    return found


def names() -> list[str]:
    """Every registered schema as ``vendor:Entity``, sorted."""
    _load_vendors()
    return sorted(schema.ref for schema in _SCHEMAS.values())


def all_schemas() -> list[EntitySchema]:
    _load_vendors()
    return list(_SCHEMAS.values())


def record_schema(record: Any) -> EntitySchema | None:
    """The schema a record is typed with: its part's own (``urls`` with ``schema=``), else its vendor's."""
    info = record.part
    if info.schema:
        return resolve(info.schema)
    return lookup(info.source, info.entity_type)
