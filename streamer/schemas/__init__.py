"""Entity schemas for every vendor, in one registry.

``lookup("mews", "OrderItem")`` / ``resolve("rebilly:transactions")`` give an
:class:`EntitySchema`: its msgspec Struct (``record.typed()``), its Singer
JSON Schema, its key and replication key.  See docs/schemas.md.
"""

from streamer.schemas.base import EntitySchema
from streamer.schemas.jsonschema import InferredSchema, struct_json_schema
from streamer.schemas.registry import lookup, names, register, resolve

__all__ = ["EntitySchema", "InferredSchema", "lookup", "names", "register", "resolve", "struct_json_schema"]
