"""The table-shaped sinks' shared rows, exactly: table names, key columns, refusals, checkpoint rows.

Every database sink upserts by the row id made here and resumes from the
checkpoint row read back here: a wrong synthetic id re-delivers records, a
lost checkpoint column resumes at the wrong byte.  The database suites only
see the end result; these tests pin each rule.
"""

from __future__ import annotations

import pytest

from streamer.errors import ConfigError, PartError, RecordRefusedError, RecordsRefusedError
from streamer.records import Batch, Checkpoint, PartInfo, Record
from streamer.sinks import rows as sink_rows
from streamer.sinks.rows import _reason, batch_rows, check_identifier, find_refused, table_name
from streamer.sinks.rows import checkpoint_from_row, checkpoint_row

INFO = PartInfo(source="test", index=2, entity_type="OrderItem", export_id="exp")


def raw(line: int, text: bytes) -> Record:
    return Record(None, INFO, line, line * 10, raw=text)


def decoded(line: int, value: object) -> Record:
    return Record(value, INFO, line, line * 10)


# ------------------------------------------------------------------ names


@pytest.mark.parametrize(
    ("entity", "source", "prefix", "name"),
    [
        ("OrderItem", "mews", "", "order_item"),
        ("OrderItem", "mews", "raw_", "raw_order_item"),
        ("HTTPResponse2X", "x", "", "httpresponse2_x"),
        ("customer-accounts.v2", "x", "", "customer_accounts_v2"),
        (None, "Rebilly", "", "rebilly"),
        (None, "", "", "records"),
        ("---", "x", "", "records"),
        ("2024Sales", "x", "", "t_2024_sales"),
        ("__Odd__", "x", "", "odd"),
        ("A" * 80, "x", "", "a" * 63),
    ],
)
def test_table_name(entity: str | None, source: str, prefix: str, name: str) -> None:
    assert table_name(PartInfo(source=source, index=0, entity_type=entity), prefix) == name


def test_a_prefix_that_is_not_an_identifier_is_refused() -> None:
    with pytest.raises(ConfigError) as raised:
        table_name(INFO, "1-")
    assert str(raised.value) == (
        "table name '1-order_item' is not a plain SQL identifier (letters, digits, _; at most 63)"
    )


@pytest.mark.parametrize("name", ["a", "_x", "A9_b", "a" * 63])
def test_plain_identifiers(name: str) -> None:
    assert check_identifier(name, "schema") == name


@pytest.mark.parametrize("name", ["", "9a", "a-b", "a b", "a;drop", "a" * 64, "é"])
def test_not_identifiers(name: str) -> None:
    with pytest.raises(ConfigError) as raised:
        check_identifier(name, "schema")
    assert str(raised.value) == f"schema {name!r} is not a plain SQL identifier (letters, digits, _; at most 63)"


# ------------------------------------------------------------------ rows


def test_rows_from_raw_lines_decode_only_the_keys() -> None:
    rows = batch_rows(Batch([
        raw(1, b'{"Id":"a","EnterpriseId":"e1","UpdatedUtc":"2026-01-01T00:00:00Z","x":1}'),
        raw(2, b'{"id":7,"EnterpriseId":3,"UpdatedUtc":null}'),
        raw(3, b'{"Id":null,"id":"low"}'),
        raw(4, b'{"Name":"no id"}'),
        raw(5, b'{"Id":"crlf"}\r'),
    ], INFO, Checkpoint(INFO.key, 50, 5)))
    assert rows == [
        ("a", "e1", "2026-01-01T00:00:00Z", b'{"Id":"a","EnterpriseId":"e1","UpdatedUtc":"2026-01-01T00:00:00Z","x":1}'),
        ("7", "3", None, b'{"id":7,"EnterpriseId":3,"UpdatedUtc":null}'),
        ("low", None, None, b'{"Id":null,"id":"low"}'),
        ("test/exp/2#4", None, None, b'{"Name":"no id"}'),
        ("crlf", None, None, b'{"Id":"crlf"}'),
    ]


def test_a_key_number_beyond_a_double_still_gets_a_row() -> None:
    rows = batch_rows(Batch([raw(9, b'{"Id":1e400,"v":1}')], INFO, Checkpoint(INFO.key, 90, 9)))
    assert rows == [("test/exp/2#9", None, None, b'{"Id":1e400,"v":1}')]


def test_rows_from_decoded_records() -> None:
    rows = batch_rows(Batch([
        decoded(1, {"Id": "a", "EnterpriseId": "e", "UpdatedUtc": "u", "v": 1}),
        decoded(2, {"id": 5}),
        decoded(3, {"Id": None, "id": None}),
        decoded(4, ["not", "an", "object"]),
    ], INFO, Checkpoint(INFO.key, 40, 4)))
    assert rows == [
        ("a", "e", "u", b'{"Id":"a","EnterpriseId":"e","UpdatedUtc":"u","v":1}'),
        ("5", None, None, b'{"id":5}'),
        ("test/exp/2#3", None, None, b'{"Id":null,"id":null}'),
        ("test/exp/2#4", None, None, b'["not","an","object"]'),
    ]


def test_the_last_record_of_an_id_wins_in_its_first_place() -> None:
    rows = batch_rows(Batch([
        decoded(1, {"Id": "a", "v": 1}), decoded(2, {"Id": "b"}), decoded(3, {"Id": "a", "v": 3}),
    ], INFO, Checkpoint(INFO.key, 30, 3)))
    assert rows == [("a", None, None, b'{"Id":"a","v":3}'), ("b", None, None, b'{"Id":"b"}')]


# ------------------------------------------------------------------ refusals


class Refusal(Exception):
    pass


def _probe_refusing(bad: set[str], calls: list[list[str]]):  # type: ignore[no-untyped-def]
    async def probe(pairs):  # type: ignore[no-untyped-def]
        ids = [row[0] for row, _ in pairs]
        calls.append(ids)
        return Refusal(f"cannot store {sorted(set(ids) & bad)}") if set(ids) & bad else None

    return probe


async def test_find_refused_bisects_down_to_each_refused_record_in_file_order() -> None:
    records = [decoded(i, {"Id": f"r{i}"}) for i in range(1, 9)]
    batch = Batch(records, INFO, Checkpoint(INFO.key, 80, 8))
    calls: list[list[str]] = []
    error = await find_refused(batch, _probe_refusing({"r7", "r2"}, calls), "SQLite", Refusal("batch failed"))
    assert isinstance(error, RecordsRefusedError)
    assert [record.line for record, _ in error.refused] == [2, 7]
    first = error.refused[0][1]
    assert isinstance(first, RecordRefusedError)
    assert (first.part, first.line, first.offset, first.snippet) == (INFO.describe(), 2, 20, b'{"Id":"r2"}')
    assert first.reason == "SQLite cannot store this record (cannot store ['r2'])"
    assert str(error).endswith(" (and 1 more records of the batch)")
    assert calls[0] == [f"r{i}" for i in range(1, 9)]  # the whole batch first
    assert calls[1] == ["r1", "r2", "r3", "r4"]  # then its first half
    assert len(calls) == 11  # 1 + 2 halves + 4 quarters (2 refused) + the 4 single rows beneath them


async def test_find_refused_without_a_single_culprit_names_the_lines() -> None:
    records = [decoded(i, {"Id": f"r{i}"}) for i in range(3, 6)]
    batch = Batch(records, INFO, Checkpoint(INFO.key, 50, 5))
    error = await find_refused(batch, _probe_refusing(set(), []), "DuckDB", Refusal("disk\n  quota"))
    assert type(error) is PartError
    assert str(error) == f"{INFO.describe()}: DuckDB refused the batch of lines 3-5: disk quota"


async def test_find_refused_of_an_empty_batch_names_its_checkpoint() -> None:
    calls: list[list[str]] = []
    error = await find_refused(Batch([], INFO, Checkpoint(INFO.key, 0, 0)), _probe_refusing(set(), calls), "SQLite",
                               Refusal())
    assert calls == []  # nothing to probe
    assert str(error) == f"{INFO.describe()}: SQLite refused the batch of its checkpoint: Refusal"


class AsyncpgLike(Exception):
    def __init__(self, text: str, message: object, detail: str | None) -> None:
        super().__init__(text)
        self.message = message
        self.detail = detail


def test_reason() -> None:
    assert _reason(Refusal("one\nline ")) == "one line"
    assert _reason(Refusal()) == "Refusal"
    assert _reason(AsyncpgLike("full text", "the message", "the detail")) == "the message: the detail"
    assert _reason(AsyncpgLike("full text", "the message", None)) == "the message"
    assert _reason(AsyncpgLike("full  text", 42, "")) == "full text"  # a non-text message is not the server's


# ------------------------------------------------------------------ checkpoint rows


def test_checkpoint_columns() -> None:
    assert sink_rows.CHECKPOINT_TABLE == "_streamer_checkpoints"
    assert sink_rows.CHECKPOINT_COLUMN_LIST == (
        "part_key, byte_offset, line, done, decoder_state, compressed, etag, last_modified, file_length"
    )
    assert sink_rows.CHECKPOINT_UPDATE == (
        "byte_offset = excluded.byte_offset, line = excluded.line, done = excluded.done, "
        "decoder_state = excluded.decoder_state, compressed = excluded.compressed, etag = excluded.etag, "
        "last_modified = excluded.last_modified, file_length = excluded.file_length"
    )
    assert sink_rows.LATER_CHECKPOINT_COLUMNS == {"etag": "TEXT", "last_modified": "TEXT", "file_length": "BIGINT"}
    assert len(sink_rows.CHECKPOINT_COLUMNS) == 9


def test_a_checkpoint_row_and_back() -> None:
    full = Checkpoint("k", 120, 7, done=True, decoder_state={"header": ["a", "b"]}, compressed=True,
                      etag='"e"', last_modified="Mon", length=500)
    row = checkpoint_row(full)
    assert row == ("k", 120, 7, True, '{"header":["a","b"]}', True, '"e"', "Mon", 500)
    assert checkpoint_from_row(row) == full
    bare = Checkpoint("k", 0, 0)
    assert checkpoint_row(bare) == ("k", 0, 0, False, None, False, None, None, None)
    assert checkpoint_from_row(checkpoint_row(bare)) == bare


def test_a_checkpoint_from_driver_values() -> None:
    """Drivers hand back their own types: 0/1 for booleans, bytes or a dict for JSON, a Mapping row."""
    assert checkpoint_from_row(("k", 5, 2, 1, b'{"s":1}', 0, None, None, 9)) == Checkpoint(
        "k", 5, 2, done=True, decoder_state={"s": 1}, length=9
    )
    as_mapping = {column: value for column, value in zip(sink_rows.CHECKPOINT_COLUMNS, ("k", 5, 2, 0, {"s": 2}, 1, "e", "m", None))}
    assert checkpoint_from_row(as_mapping) == Checkpoint(
        "k", 5, 2, decoder_state={"s": 2}, compressed=True, etag="e", last_modified="m"
    )
