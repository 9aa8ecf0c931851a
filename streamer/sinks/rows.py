"""What the table-shaped sinks share: table names, key columns, checkpoint rows.

Every database sink stores a record as its full JSON plus three key columns
(``Id``, ``EnterpriseId``, ``UpdatedUtc``) so the table can be upserted by Id
and queried without parsing JSON.  A record without an ``Id`` (or ``id``)
gets a synthetic one from its part and line: that position is stable across
restarts, so upserting by it still delivers each record exactly once.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec
import orjson

from streamer.errors import ConfigError, PartError, RecordRefusedError, RecordsRefusedError, StreamerError
from streamer.records import Batch, Checkpoint, PartInfo, Record

CHECKPOINT_TABLE = "_streamer_checkpoints"
"""The table where database sinks commit each part's position with its records."""

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_IDENT = re.compile(r"[^a-z0-9_]+")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")

Row = tuple[str, str | None, str | None, bytes]
"""(id, enterprise_id, updated_utc, record as JSON bytes)."""


def table_name(part: PartInfo, prefix: str = "") -> str:
    """``OrderItem`` → ``order_item``: one table (or file set) per entity type."""
    raw = part.entity_type or part.source or "records"
    name = _NOT_IDENT.sub("_", _CAMEL.sub("_", raw).lower()).strip("_") or "records"
    if name[0].isdigit():
        name = f"t_{name}"
    return check_identifier(f"{prefix}{name}"[:63], "table name")


def check_identifier(name: str, what: str) -> str:
    """Refuse anything that is not a plain SQL identifier (names are interpolated, not bound)."""
    if not _IDENT.fullmatch(name):
        raise ConfigError(f"{what} {name!r} is not a plain SQL identifier (letters, digits, _; at most 63)")
    return name


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


class _KeyColumns(msgspec.Struct):
    """The fields a row is keyed by; every other field is skipped, not decoded."""

    Id: Any = None
    id: Any = None
    EnterpriseId: Any = None
    UpdatedUtc: Any = None


_decode_keys = msgspec.json.Decoder(_KeyColumns).decode


def batch_rows(batch: Batch) -> list[Row]:
    """The batch as rows, one per Id (the last record of an Id wins, as an upsert would).

    A record nobody decoded is stored as its line, and only its key columns
    are decoded from it (msgspec skips the rest): no full parse and re-encode
    per record, and a valid line orjson cannot hold (``1e400``) is stored too.

    Deduplicating here matters: PostgreSQL and DuckDB refuse an
    ``ON CONFLICT DO UPDATE`` that touches the same row twice in one statement.
    """
    return [row for row, _ in _rows_by_id(batch)]


def _rows_by_id(batch: Batch) -> list[RowOf]:
    """:func:`batch_rows`, each row with the record it was made from."""
    part_key = batch.part.key
    by_id: dict[str, RowOf] = {}
    for record in batch.records:
        if record.value is None and record.raw is not None:
            try:
                keys = _decode_keys(record.raw)
            except msgspec.ValidationError:  # a key field holding a number beyond a double
                keys = _KeyColumns()
            key, alt_key, enterprise, updated = keys.Id, keys.id, keys.EnterpriseId, keys.UpdatedUtc
        elif isinstance(record.value, dict):
            data = record.value
            key, alt_key = data.get("Id"), data.get("id")
            enterprise, updated = data.get("EnterpriseId"), data.get("UpdatedUtc")
        else:
            key = alt_key = enterprise = updated = None
        if key is None:
            key = alt_key
        ident = f"{part_key}#{record.line}" if key is None else str(key)
        by_id[ident] = ((ident, _text(enterprise), _text(updated), record.to_json()), record)
    return list(by_id.values())


RowOf = tuple[Row, Record]
"""A row (JSON layout) with the record it was made from (what a typed table loads)."""

RefusalProbe = Callable[[list[RowOf]], Awaitable[BaseException | None]]
"""Tries to store some records in a transaction that is always rolled back; returns
the backend's refusal (an exception of the sink's declared refusal types) or ``None``."""


async def find_refused(batch: Batch, probe: RefusalProbe, backend: str, error: BaseException) -> StreamerError:
    """The error to raise for a batch the backend refused with ``error``.

    Only called once a batch has failed, so the hot path pays nothing: the
    rows are bisected with ``probe`` (about 2·log2(n) probes per refused
    record) down to the records the backend cannot store, which come back as
    :class:`~streamer.errors.RecordsRefusedError` for the bad-line policy.
    When no single record is to blame, a :class:`~streamer.errors.PartError`
    names the batch's lines and the backend's reason.
    """
    pending = [_rows_by_id(batch)]
    refused: list[tuple[Record, RecordRefusedError]] = []
    while pending:
        pairs = pending.pop()
        if not pairs:
            continue
        reason = await probe(pairs)
        if reason is None:
            continue
        if len(pairs) == 1:
            record = pairs[0][1]
            refused.append((record, _refusal(record, backend, reason)))
            continue
        middle = len(pairs) // 2
        pending += [pairs[middle:], pairs[:middle]]
    if refused:
        refused.sort(key=lambda pair: pair[0].offset)
        return RecordsRefusedError(refused)
    lines = f"lines {batch.records[0].line}-{batch.records[-1].line}" if batch.records else "its checkpoint"
    return PartError(batch.part.describe(), f"{backend} refused the batch of {lines}: {_reason(error)}")


def _refusal(record: Record, backend: str, reason: BaseException) -> RecordRefusedError:
    return RecordRefusedError(
        f"{backend} cannot store this record ({_reason(reason)})",
        part=record.part.describe(),
        line=record.line,
        offset=record.offset,
        snippet=record.to_json(),
    )


def _reason(error: BaseException) -> str:
    """The backend's message on one line (asyncpg keeps the detail apart)."""
    message = getattr(error, "message", None)  # asyncpg: the server's message without its DETAIL
    text = " ".join(str(message if isinstance(message, str) else error).split()) or type(error).__name__
    detail = getattr(error, "detail", None)
    return f"{text}: {detail}" if detail else text


CheckpointRow = tuple[str, int, int, bool, str | None, bool, str | None, str | None, int | None]
"""(part_key, byte_offset, line, done, decoder_state JSON, compressed, etag, last_modified, file_length)."""
CHECKPOINT_COLUMNS = (
    "part_key", "byte_offset", "line", "done", "decoder_state", "compressed", "etag", "last_modified", "file_length"
)
LATER_CHECKPOINT_COLUMNS = {"etag": "TEXT", "last_modified": "TEXT", "file_length": "BIGINT"}
"""Columns added after the first release, with their SQL types: opening a
table made by an older streamer adds the ones it lacks (old rows read ``NULL``)."""
CHECKPOINT_COLUMN_LIST = ", ".join(CHECKPOINT_COLUMNS)
CHECKPOINT_UPDATE = ", ".join(f"{c} = excluded.{c}" for c in CHECKPOINT_COLUMNS[1:])
"""The ``ON CONFLICT (part_key) DO UPDATE SET`` list of the checkpoint upsert."""


def checkpoint_row(checkpoint: Checkpoint) -> CheckpointRow:
    state = checkpoint.decoder_state
    return (
        checkpoint.part_key,
        checkpoint.offset,
        checkpoint.line,
        checkpoint.done,
        None if state is None else orjson.dumps(dict(state)).decode(),
        checkpoint.compressed,
        checkpoint.etag,
        checkpoint.last_modified,
        checkpoint.length,
    )


def checkpoint_from_row(row: tuple[Any, ...] | Mapping[str, Any]) -> Checkpoint:
    if isinstance(row, Mapping):
        row = tuple(row[k] for k in CHECKPOINT_COLUMNS)
    part_key, offset, line, done, state, compressed, etag, modified, length = row
    if isinstance(state, (str, bytes)):
        state = orjson.loads(state)
    return Checkpoint(
        part_key=str(part_key),
        offset=int(offset),
        line=int(line),
        done=bool(done),
        decoder_state=state,
        compressed=bool(compressed),
        etag=etag,
        last_modified=modified,
        length=None if length is None else int(length),
    )
