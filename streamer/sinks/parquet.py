"""Parquet (optional extra ``parquet``): typed files per entity, exactly once across kill -9.

``parquet:///out`` writes ``out/<table>/part-000001.parquet, ...``: the
columns of :mod:`streamer.tables` (the same schema, flattening and contract
as the database sinks), row groups of ``row_group_size`` rows (50,000) or
``row_group_bytes`` of Arrow data (8 MiB), whichever comes first, a new file
every ``rows_per_file`` rows, at the end of each part, and whenever the
table's columns change (a file has one schema; read the series with DuckDB's
``read_parquet('out/t/*.parquet', union_by_name=true)``).

A file is written as ``.part-NNNNNN.parquet.tmp``, fsynced and renamed when
finished; then ``out/_streamer_manifest.json`` (files, table schemas and the
checkpoints their rows reach) is replaced the same way.  Checkpoints advance
only with a finished file, so rows of an unfinished file are delivered again
after a crash, and :meth:`open` deletes files the manifest does not list
(temporaries, or a file renamed just before the crash): every record once.
Parquet files are append-only: a record delivered again by a later export
is a new row (deduplicate by ``id`` and ``_streamer_loaded_at`` when reading).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import orjson

from streamer.errors import ConfigError
from streamer.records import Batch, Checkpoint
from streamer.sinks.base import TRANSACTIONAL
from streamer.sinks.rows import table_name
from streamer.tables.state import TypedOptions, require_arrow

MANIFEST = "_streamer_manifest.json"
ROW_GROUP_SIZE = 50_000
"""Rows per row group at most (DuckDB writes 122,880; pyarrow's default is 1 Mi rows)."""
ROW_GROUP_BYTES = 8 << 20
"""Arrow bytes buffered per open file at most: a wider record means fewer rows per row group,
so the sink's memory stays bounded (measured in docs/typed-tables.md)."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temp file, fsync, rename, fsync the directory."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class _OpenFile:
    """The file a table is writing: its writer, rows so far, and the checkpoints it will commit."""

    def __init__(self, final: Path, schema: Any, row_group_size: int, row_group_bytes: int) -> None:
        import pyarrow.parquet as pq

        self.final = final
        self.tmp = final.with_name(f".{final.name}.tmp")
        self.writer = pq.ParquetWriter(self.tmp, schema)
        self.schema = schema
        self.row_group_size = row_group_size
        self.row_group_bytes = row_group_bytes
        self.pending: list[Any] = []
        self.pending_rows = 0
        self.pending_bytes = 0
        self.rows = 0
        self.checkpoints: dict[str, Checkpoint] = {}

    def append(self, table: Any) -> None:
        """Buffer a batch's columns; a row group is written once the buffer holds enough rows or bytes.

        The bytes bound is what keeps the sink's memory flat whatever the
        record width: pyarrow has no buffered row group, so the buffer *is*
        the row group being built (plus its encoded pages while it is written).
        """
        self.pending.append(table)
        self.pending_rows += table.num_rows
        self.pending_bytes += table.nbytes
        self.rows += table.num_rows
        if self.pending_bytes >= self.row_group_bytes:
            self._flush_groups(final=True)  # whatever is buffered is one row group (or more, by rows)
        elif self.pending_rows >= self.row_group_size:
            self._flush_groups(final=False)

    def _flush_groups(self, *, final: bool) -> None:
        import pyarrow as pa

        if not self.pending:
            return
        table = pa.concat_tables(self.pending)
        cut = table.num_rows if final else table.num_rows - table.num_rows % self.row_group_size
        if cut:
            self.writer.write_table(table.slice(0, cut), row_group_size=self.row_group_size)
        rest = table.slice(cut)
        self.pending, self.pending_rows = ([rest] if rest.num_rows else []), rest.num_rows
        self.pending_bytes = rest.nbytes if rest.num_rows else 0

    def finish(self) -> None:
        self._flush_groups(final=True)
        self.writer.close()
        with open(self.tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(self.tmp, self.final)

    def abandon(self) -> None:
        try:
            self.writer.close()
        finally:
            self.tmp.unlink(missing_ok=True)


class ParquetSink:
    """``ParquetSink("out")``: typed Parquet files per entity type, exactly once across restarts."""

    capabilities = TRANSACTIONAL  # a file's checkpoints are committed with it (the manifest): see load_checkpoints

    def __init__(
        self, directory: str | Path, *, typed: TypedOptions | None = None,
        row_group_size: int = ROW_GROUP_SIZE, rows_per_file: int = 1_000_000, table_prefix: str = "",
        row_group_bytes: int = ROW_GROUP_BYTES,
    ) -> None:
        require_arrow("Parquet")
        if row_group_size < 1 or rows_per_file < 1 or row_group_bytes < 1:
            raise ConfigError("row_group_size, row_group_bytes and rows_per_file must be at least 1")
        from streamer.tables.dialects import DUCKDB
        from streamer.tables.state import TypedTables

        self.directory = Path(directory)
        self.row_group_size = row_group_size
        self.row_group_bytes = row_group_bytes
        self.rows_per_file = rows_per_file
        self.table_prefix = table_prefix
        self.records = 0
        # the columns' state and evolution, shared with the table sinks (the dialect's DDL goes unused)
        self._tables = TypedTables(DUCKDB, typed or TypedOptions())
        self._open: dict[str, _OpenFile] = {}
        self._manifest: dict[str, Any] = {"files": {}, "tables": {}, "checkpoints": {}}
        self._part_table: dict[str, str] = {}

    # -- the Sink protocol

    async def open(self) -> None:
        await anyio.to_thread.run_sync(self._open_sync)

    def _open_sync(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._manifest = self._read_manifest()
        listed = {Path(p) for files in self._manifest["files"].values() for p in files}
        for path in self.directory.glob("*/*.parquet*"):  # files a crash left behind: their rows come again
            if path.relative_to(self.directory) not in listed:
                path.unlink()

    def _read_manifest(self) -> dict[str, Any]:
        path = self.directory / MANIFEST
        if not path.exists():
            return {"files": {}, "tables": {}, "checkpoints": {}}
        try:
            return orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"{path} is not valid JSON ({exc}); it lists the finished files and checkpoints") from None

    async def write(self, batch: Batch) -> None:
        await anyio.to_thread.run_sync(self._write_sync, batch)
        self.records += len(batch.records)

    def _write_sync(self, batch: Batch) -> None:
        from streamer.tables.batch import utc_now

        key = batch.part.key
        table = table_name(batch.part, self.table_prefix) if batch.records else self._part_table.get(key)
        if table is None:  # a part with no records at all: its checkpoint has nothing to wait for
            self._manifest["checkpoints"][key] = batch.checkpoint.to_json()
            self._save_manifest()
            return
        self._part_table[key] = table
        if not self._tables.known(table):
            stored = self._manifest["tables"].get(table)
            self._tables.settle(table, batch.part, None, None if stored is None else orjson.dumps(stored).decode())
        if batch.records:
            plan = self._tables.plan(table, table, batch, utc_now())
            current = self._open.get(table)
            if current is not None and (plan.schema_json is not None or current.schema != plan.rows.table.schema):
                self._finish(table)  # one schema per file
            current = self._open.get(table)
            if current is None:
                current = self._open[table] = _OpenFile(
                    self._next_file(table), plan.rows.table.schema, self.row_group_size, self.row_group_bytes
                )
            current.append(plan.rows.table)
        else:
            current = self._open.get(table)
        if current is None:
            self._manifest["checkpoints"][key] = batch.checkpoint.to_json()
            self._save_manifest()
            return
        current.checkpoints[key] = batch.checkpoint
        if current.rows >= self.rows_per_file or batch.checkpoint.done:
            self._finish(table)

    def _next_file(self, table: str) -> Path:
        folder = self.directory / table
        folder.mkdir(exist_ok=True)
        n = len(self._manifest["files"].get(table, [])) + 1
        return folder / f"part-{n:06d}.parquet"

    def _finish(self, table: str) -> None:
        """Rename the finished file into place, then commit its checkpoints with it in the manifest."""
        current = self._open.pop(table)
        current.finish()
        manifest = self._manifest
        manifest["files"].setdefault(table, []).append(str(current.final.relative_to(self.directory)))
        manifest["tables"][table] = self._tables.schema(table).to_json()
        for key, checkpoint in current.checkpoints.items():
            manifest["checkpoints"][key] = checkpoint.to_json()
        self._save_manifest()

    def _save_manifest(self) -> None:
        _replace(self.directory / MANIFEST, orjson.dumps(self._manifest, option=orjson.OPT_INDENT_2))

    async def close(self, error: BaseException | None) -> None:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._close_sync)

    def _close_sync(self) -> None:
        """Finish every open file: each batch in it was whole, so its rows and checkpoints are good."""
        for table in list(self._open):
            self._finish(table)

    # -- resume

    async def load_checkpoints(self) -> dict[str, Checkpoint]:
        """The checkpoints of the finished files (empty for a new directory)."""
        manifest = await anyio.to_thread.run_sync(self._read_manifest)
        return {key: Checkpoint.from_json(key, entry) for key, entry in manifest["checkpoints"].items()}

    def __repr__(self) -> str:
        return f"ParquetSink({str(self.directory)!r})"
