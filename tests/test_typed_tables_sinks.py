"""Typed tables in SQLite, DuckDB and PostgreSQL: real SQL types, evolution in the batch's
transaction, contracts, upsert by Id (newer wins), JSON-layout tables left as they are."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from streamer.providers.mews.entities import OrderItem
from streamer.sinks.duckdb import DuckDBSink
from streamer.sinks.postgres import PostgresSink
from streamer.sinks.registry import sink_from_url
from streamer.sinks.sqlite import SqliteSink
from streamer.tables import ContractError, TypedOptions
from streamer.schemas import struct_json_schema
from tests.support.pg_fixture import postgres_dsn  # noqa: F401  (fixture)
from tests.support.sinks import make_batch

MEWS = struct_json_schema(OrderItem)


def item(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "Id": f"oi-{i}", "EnterpriseId": "ent", "UnitCount": i,
        "Amount": {"Currency": "EUR", "NetValue": i + 0.25, "TaxValues": [{"Code": "VAT", "Value": 0.1}]},
        "UpdatedUtc": f"2026-01-01T00:00:{i % 60:02d}.1234567Z", **extra,
    }


class Backend:
    """One database: a sink factory, and reading back (column types, rows) without the sink's code."""

    def __init__(self, kind: str, tmp_path: Path, dsn: str | None) -> None:
        self.kind = kind
        self.path = tmp_path / f"out.{kind}"
        self.dsn = dsn
        self.schema = f"typed_{uuid.uuid4().hex[:8]}"

    def sink(self, **options: Any) -> Any:
        typed = TypedOptions(**options) if options else None
        if self.kind == "sqlite":
            return SqliteSink(self.path, typed=typed)
        if self.kind == "duckdb":
            return DuckDBSink(self.path, typed=typed)
        return PostgresSink(self.dsn, schema=self.schema, typed=typed)  # type: ignore[arg-type]

    async def types(self, table: str) -> dict[str, str]:
        if self.kind == "sqlite":
            with sqlite3.connect(self.path) as conn:
                return {r[1]: r[2] for r in conn.execute(f"PRAGMA table_info({table})")}
        sql = ("SELECT column_name, data_type FROM information_schema.columns "
               f"WHERE table_name = '{table}'")
        if self.kind == "duckdb":
            import duckdb

            with duckdb.connect(str(self.path), read_only=True) as conn:
                return dict(conn.execute(sql).fetchall())
        return dict(await self._pg(sql + f" AND table_schema = '{self.schema}'"))

    async def rows(self, table: str) -> list[dict[str, Any]]:
        if self.kind == "sqlite":
            with sqlite3.connect(self.path) as conn:
                conn.row_factory = sqlite3.Row
                return [dict(r) for r in conn.execute(f"SELECT * FROM {table} ORDER BY id")]
        if self.kind == "duckdb":
            import duckdb

            with duckdb.connect(str(self.path), read_only=True) as conn:
                cursor = conn.execute(f"SELECT * FROM {table} ORDER BY id")
                names = [d[0] for d in cursor.description]
                return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
        return [dict(r) for r in await self._pg(f"SELECT * FROM {self.schema}.{table} ORDER BY id")]

    async def _pg(self, sql: str) -> list[Any]:
        import asyncpg

        conn = await asyncpg.connect(self.dsn)
        try:
            return await conn.fetch(sql)
        finally:
            await conn.close()


@pytest.fixture(params=["sqlite", "duckdb", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    dsn = request.getfixturevalue("postgres_dsn") if request.param == "postgresql" else None
    return Backend(request.param, tmp_path, dsn)


async def write(sink: Any, *batches: Any) -> None:
    await sink.open()
    try:
        for b in batches:
            await sink.write(b)
    finally:
        await sink.close(None)


EXPECTED_TYPES = {
    "sqlite": {"id": "TEXT", "unit_count": "INTEGER", "amount__net_value": "REAL", "updated_utc": "TIMESTAMP",
               "amount__tax_values": "TEXT", "_streamer_line": "INTEGER"},
    "duckdb": {"id": "VARCHAR", "unit_count": "BIGINT", "amount__net_value": "DOUBLE",
               "updated_utc": "TIMESTAMP WITH TIME ZONE", "amount__tax_values": "JSON", "_streamer_line": "BIGINT"},
    "postgresql": {"id": "text", "unit_count": "bigint", "amount__net_value": "double precision",
                   "updated_utc": "timestamp with time zone", "amount__tax_values": "jsonb", "_streamer_line": "bigint"},
}


async def test_typed_columns_from_a_schema(backend: Backend) -> None:
    sink = backend.sink(schema_for=lambda part: MEWS)
    await write(sink, make_batch([item(i) for i in range(1, 4)], done=True))
    types = await backend.types("order_item")
    assert {k: types[k] for k in EXPECTED_TYPES[backend.kind]} == EXPECTED_TYPES[backend.kind]
    assert "canceled_utc" in types  # declared columns exist before any value came
    rows = await backend.rows("order_item")
    assert [r["id"] for r in rows] == ["oi-1", "oi-2", "oi-3"]
    first = rows[0]
    assert first["unit_count"] == 1 and first["amount__net_value"] == 1.25 and first["amount__currency"] == "EUR"
    assert first["_streamer_part"] == "test/exp/0" and first["_streamer_line"] == 1
    stamp = first["updated_utc"]
    if backend.kind == "sqlite":
        assert stamp == "2026-01-01T00:00:01.123456+00:00"
    else:
        assert stamp == datetime(2026, 1, 1, 0, 0, 1, 123456, tzinfo=UTC)


async def test_a_field_added_mid_export_and_a_type_widened(backend: Backend) -> None:
    sink = backend.sink()  # no schema: the first batch makes the columns
    await write(
        sink,
        make_batch([item(1), item(2)]),
        make_batch([item(3, Note="late field"), item(4, UnitCount=4.5)], first_line=3),
        make_batch([item(5, UnitCount="five")], first_line=5, done=True),
    )
    types = await backend.types("order_item")
    assert "note" in types
    if backend.kind != "sqlite":  # SQLite keeps the declared type; its values carry their own
        assert types["unit_count"] in ("VARCHAR", "text")
    rows = {r["id"]: r for r in await backend.rows("order_item")}
    assert rows["oi-3"]["note"] == "late field" and rows["oi-1"]["note"] is None
    assert [rows[f"oi-{i}"]["unit_count"] for i in (4, 5)] == ["4.5", "five"] or backend.kind == "sqlite"
    assert rows["oi-5"]["unit_count"] == "five"
    # a resumed run knows the widened kinds (kept in _streamer_tables) and goes on
    await write(backend.sink(), make_batch([item(6, UnitCount="six")], index=1, done=True))
    assert {r["id"]: r for r in await backend.rows("order_item")}["oi-6"]["unit_count"] == "six"


async def test_freeze_refuses_and_rolls_back_the_batch(backend: Backend) -> None:
    sink = backend.sink(schema_for=lambda part: MEWS, contract="freeze")
    await sink.open()
    try:
        await sink.write(make_batch([item(1)]))
        with pytest.raises(ContractError, match=r"line 3, byte offset 200: field 'Surprise' is not a column"):
            await sink.write(make_batch([item(2), item(3, Surprise=True)], first_line=2))
        checkpoints = await sink.load_checkpoints()
    finally:
        await sink.close(None)
    assert [r["id"] for r in await backend.rows("order_item")] == ["oi-1"]  # nothing of the refused batch
    assert [c.line for c in checkpoints.values()] == [1]


async def test_discard_keeps_the_value_in_extra(backend: Backend) -> None:
    sink = backend.sink(schema_for=lambda part: MEWS, contract="discard")
    await write(sink, make_batch([item(1, Surprise={"a": 1}), item(2, UnitCount="two")], done=True))
    rows = await backend.rows("order_item")
    import orjson

    assert orjson.loads(rows[0]["_extra"]) == {"Surprise.a": 1}  # by field path, flattened like the columns
    assert orjson.loads(rows[1]["_extra"]) == {"UnitCount": "two"} and rows[1]["unit_count"] is None
    assert "surprise" not in await backend.types("order_item")


async def test_upsert_by_id_keeps_the_newer_version(backend: Backend) -> None:
    newer = item(1, UnitCount=10, UpdatedUtc="2026-06-01T00:00:00Z")
    older = item(1, UnitCount=99, UpdatedUtc="2026-05-01T00:00:00+00:00")
    await write(backend.sink(), make_batch([newer]), make_batch([older], index=1), make_batch([item(2)], index=2, done=True))
    rows = await backend.rows("order_item")
    assert [(r["id"], r["unit_count"]) for r in rows] == [("oi-1", 10), ("oi-2", 2)]


async def test_a_json_layout_table_stays_json(backend: Backend) -> None:
    json_sink = {"sqlite": SqliteSink, "duckdb": DuckDBSink}.get(backend.kind)
    first = (json_sink(backend.path, layout="json") if json_sink
             else PostgresSink(backend.dsn, schema=backend.schema, layout="json"))  # type: ignore[arg-type]
    await write(first, make_batch([item(1)]))
    await write(backend.sink(), make_batch([item(2)], index=1, done=True))  # typed by default, but the table exists
    types = await backend.types("order_item")
    assert "record" in types and "unit_count" not in types
    assert [r["id"] for r in await backend.rows("order_item")] == ["oi-1", "oi-2"]


def test_sink_urls_choose_layout_and_contract(tmp_path: Path) -> None:
    typed = sink_from_url(f"sqlite:///{tmp_path}/a.db?contract=freeze&max_nesting=2")
    assert typed._typed.tables.options == TypedOptions(contract="freeze", max_nesting=2)  # type: ignore[attr-defined]
    assert sink_from_url(f"duckdb:///{tmp_path}/a.duckdb?layout=json")._typed is None  # type: ignore[attr-defined]
    pg = sink_from_url("postgresql://u:p@127.0.0.1/db?schema=raw&layout=typed&contract=discard")
    assert pg._typed.tables.options.contract == "discard"  # type: ignore[attr-defined]
    from streamer.errors import ConfigError

    for bad, message in (("layout=wide", "layout must be typed or json"), ("contract=lax", "contract must be one of"),
                         ("max_nesting=x", "max_nesting='x' should be a whole number"),
                         ("memory_limit=1;DROP", "memory_limit")):
        with pytest.raises(ConfigError, match=message):
            sink_from_url(f"duckdb:///{tmp_path}/b.duckdb?{bad}")


async def test_vendor_csv_exports_become_typed_tables_keyed_by_their_schema(backend: Backend) -> None:
    """The simulator's LogiSense and Rebilly CSV exports, every value text on the wire, into typed columns,
    keyed by the schema's key (LogiSense ``rowId``, Rebilly ``id``): a rerun upserts, never duplicates."""
    from streamer.api import run
    from streamer.providers.logisense import LogisenseSource
    from streamer.simulator import Simulator
    from streamer.simulator import logisense as logisense_sim
    from streamer.simulator import rebilly as rebilly_sim
    from tests.support.rebilly import make_source

    sim = Simulator(seed=3)
    logisense_sim.install(sim, ready_made=True, rows_per_export=40, pending_seconds=0.0, processing_seconds=0.0)
    rebilly = rebilly_sim.install(sim, records=30)
    async with sim:
        logisense = LogisenseSource(base_url=sim.base_url, username="demo", password="demo-password",
                                    client_id="streamer", history_ids=[101], poll_interval=0.02)
        await run(logisense, backend.sink())
        await run(make_source(sim, rebilly), backend.sink())
    types = await backend.types("invoices")
    expected = {"sqlite": ("INTEGER", "TEXT", "TIMESTAMP"), "duckdb": ("BIGINT", "DECIMAL(38,9)", "TIMESTAMP WITH TIME ZONE"),
                "postgresql": ("bigint", "numeric", "timestamp with time zone")}[backend.kind]
    assert (types["account_id"], types["amount"], types["created"]) == expected
    invoices = await backend.rows("invoices")
    assert len(invoices) == 40 and {r["id"] for r in invoices} == {f"101-{i}" for i in range(40)}
    assert all(isinstance(r["account_id"], int) for r in invoices)
    if backend.kind != "sqlite":
        assert all(isinstance(r["amount"], Decimal) and isinstance(r["created"], datetime) for r in invoices)
    transactions = await backend.rows("transactions")
    assert len(transactions) == 30 and not any("#" in r["id"] for r in transactions)  # the records' ids, not part#line
    assert all(isinstance(r["amount"], float) for r in transactions)
    assert {type(r["is_rebill"]) for r in transactions} <= {bool, int, type(None)}


AWKWARD_SCHEMA = {
    "type": "object",
    "properties": {
        "Id": {"type": "string"},
        "Text": {"type": ["string", "null"]},
        "Number": {"type": "number"},
        "Money": {"type": "number", "format": "decimal"},
        "Flag": {"type": "boolean"},
        "At": {"type": "string", "format": "date-time"},
        "Doc": {"type": "array"},
    },
}
AWKWARD = [  # what a CSV (PostgreSQL's COPY) or a bound value could get wrong
    {"Id": "a", "Text": "", "Number": 0.30000000000000004, "Money": "12345678901234567890123456789.123456789",
     "Flag": True, "At": "2026-01-01T00:00:00.000001Z", "Doc": [{"q": "say \"hi\"", "n": None}]},
    {"Id": "b", "Text": None, "Number": 5e-324, "Money": "-0.000000001", "Flag": False,
     "At": "1999-12-31T23:59:59+01:00", "Doc": []},
    {"Id": "c", "Text": 'a "quoted", comma\nnew line \\N NULL', "Number": -0.0, "Money": "0", "Flag": None,
     "At": None, "Doc": None},
    {"Id": "d", "Text": "NULL", "Number": 1.7976931348623157e308, "Money": "1.5", "Flag": True,
     "At": "2026-06-30T12:00:00Z", "Doc": ["\\", "é", ""]},
]


async def test_awkward_values_come_back_exactly(backend: Backend) -> None:
    sink = backend.sink(schema_for=lambda part: AWKWARD_SCHEMA)
    await write(sink, make_batch(AWKWARD, done=True))
    rows = {r["id"]: r for r in await backend.rows("order_item")}
    assert [rows[k]["text"] for k in "abcd"] == ["", None, AWKWARD[2]["Text"], "NULL"]
    assert [rows[k]["number"] for k in "abcd"] == [r["Number"] for r in AWKWARD]
    if backend.kind != "sqlite":  # SQLite stores -0.0 as 0.0
        assert str(rows["c"]["number"]) == "-0.0"
    money = [rows[k]["money"] for k in "abcd"]
    assert [Decimal(str(m)) for m in money] == [Decimal(r["Money"]) for r in AWKWARD]
    flags = [rows[k]["flag"] for k in "abcd"]
    assert [None if f is None else bool(f) for f in flags] == [True, False, None, True]
    docs = [rows[k]["doc"] for k in "abcd"]
    assert [None if d is None else orjson.loads(d) for d in docs] == [r["Doc"] for r in AWKWARD]
    stamps = [rows[k]["at"] for k in "abcd"]
    if backend.kind != "sqlite":
        assert stamps == [datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC), datetime(1999, 12, 31, 22, 59, 59, tzinfo=UTC),
                          None, datetime(2026, 6, 30, 12, tzinfo=UTC)]


async def test_fields_named_like_sql_keywords_are_created_added_and_widened(backend: Backend) -> None:
    sink = backend.sink()
    await write(sink, make_batch([{"Id": "a", "Order": 1, "Group": "g"}]),
                make_batch([{"Id": "b", "Order": "first", "Select": True, "Group": "h"}], first_line=2))
    rows = await backend.rows("order_item")
    # SQLite keeps each value's own type (1 stays an integer, True is 1) in a widened column
    assert [(str(r["order"]), r["group"], r["select"]) for r in rows] == [("1", "g", None), ("first", "h", True)]
