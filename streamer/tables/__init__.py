"""Typed tables: records as one column per field, from a JSON Schema, evolving under a contract.

The loaders (SQLite, DuckDB, PostgreSQL, Parquet) share the mapping from a
JSON Schema to columns (:mod:`~streamer.tables.columns`), the batch builder
that flattens, checks and types records into Arrow (:mod:`~streamer.tables.batch`),
and the per-table state (:mod:`~streamer.tables.state`).  See docs/typed-tables.md.
"""

from streamer.tables.columns import Column, TableSchema, widen
from streamer.tables.state import SchemaFor, TypedOptions, no_schema


def __getattr__(name: str) -> object:
    if name == "ContractError":  # lives with the batch builder, which imports pyarrow
        from streamer.tables.batch import ContractError

        return ContractError
    raise AttributeError(name)


__all__ = ["Column", "ContractError", "SchemaFor", "TableSchema", "TypedOptions", "no_schema", "widen"]
