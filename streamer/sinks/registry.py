"""``--sink URL``: pick and configure a sink from one string.

=================================================  =========================================
``-`` or ``jsonl:-``                               JSON lines on stdout
``jsonl:///out.jsonl``                             JSON lines appended to a file
``singer:-`` / ``singer:///out.singer``            Singer messages
``dir:///out?gzip=1&rotate_mb=100&fsync=1``        JSONL per entity type in a directory
``sqlite:///out.db``                               SQLite (``?table_prefix=raw_``)
``duckdb:///out.duckdb``                           DuckDB (extra ``duckdb``)
``postgresql://user:pw@host:5432/db?schema=raw``   PostgreSQL (extra ``postgres``)
``parquet:///out?row_group_size=50000``            Parquet files per entity (extra ``parquet``)
=================================================  =========================================

The database sinks make new tables typed (``?layout=typed``, the default:
one column per field, see docs/typed-tables.md; ``&contract=evolve|freeze|discard``,
``&max_nesting=1``); ``?layout=json`` keeps one JSON ``record`` column.
Tables that already have a ``record`` column stay in the JSON layout.

=================================================  =========================================
=================================================  =========================================

Paths follow the SQLAlchemy convention: what follows ``scheme:///`` is
relative to the working directory (``sqlite:///out.db`` is ``./out.db``) and
an absolute path takes a fourth slash (``sqlite:////var/data/out.db``);
``scheme:path`` works too.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from streamer.errors import ConfigError
from streamer.sinks.base import Sink
from streamer.tables.state import options_from_params

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _split(url: str) -> tuple[str, str, dict[str, str]]:
    """``scheme:///path?k=v`` → (scheme, path, {k: v})."""
    if url == "-":
        return "jsonl", "-", {}
    scheme, sep, rest = url.partition(":")
    if not sep or not scheme:
        raise ConfigError(f"sink {url!r} is not a URL: try sqlite:///out.db, dir:///out or - for stdout")
    rest, _, query = rest.partition("?")
    if rest.startswith("//"):
        rest = rest[2:]
        if rest.startswith("/"):
            rest = rest[1:]
    params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    return scheme.lower(), rest, params


def _flag(params: dict[str, str], name: str, url: str) -> bool:
    value = params.pop(name, "0").lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"sink {url}: {name}={value!r} should be 1 or 0")


def _path(path: str, url: str, *, creates_parents: bool = False, database: bool = False) -> str:
    if not path:
        raise ConfigError(f"sink {url} names no path")
    ensure_writable(path, f"sink {describe(url)}", creates_parents=creates_parents or database, with_directory=database)
    return path


def ensure_writable(
    path: str | os.PathLike[str],
    what: str,
    *,
    creates_parents: bool = False,
    with_directory: bool = False,
    regular_file: bool = False,
) -> None:
    """Refuse, before anything is downloaded, a path this process could not write.

    The path itself when it exists, else its directory — or, when the writer
    ``creates_parents``, the nearest directory that exists; ``with_directory``:
    its directory too (a database keeps its journal there); ``regular_file``:
    refuse an existing path that is not a plain file (a state or dead-letter
    file is read back whole: ``/dev/zero`` would never end).  ``what`` names
    the option in the one-line error.
    """
    target = Path(path)
    if regular_file and target.exists() and not target.is_file():
        raise ConfigError(f"{what}: {target} is not a regular file")
    if not creates_parents and not target.parent.is_dir():
        raise ConfigError(f"{what}: cannot create {target}: directory {target.parent} does not exist")
    if with_directory and target.exists() and not os.access(target.parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{what}: directory {target.parent} is not writable (the database keeps its journal there)")
    probe = target
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe == target:
        ok = os.access(target, os.W_OK | (os.X_OK if target.is_dir() else 0))
        problem = f"{target} is not writable"
    elif probe.is_dir():
        ok = os.access(probe, os.W_OK | os.X_OK)
        problem = f"cannot create {target}: directory {probe} is not writable"
    else:
        ok = False
        problem = f"cannot create {target}: {probe} is not a directory"
    if not ok:
        raise ConfigError(f"{what}: {problem}")


def _no_more(params: dict[str, str], url: str, scheme: str) -> None:
    if params:
        raise ConfigError(f"sink {url}: unknown option(s) {', '.join(sorted(params))} for {scheme}")


def _jsonl(path: str, params: dict[str, str], url: str, with_metadata: bool) -> Sink:
    from streamer.sinks.jsonl import JsonlSink

    metadata = _flag(params, "metadata", url) or with_metadata
    _no_more(params, url, "jsonl")
    if path in ("", "-"):
        return JsonlSink(None, with_metadata=metadata)
    return JsonlSink(Path(_path(path, url)), with_metadata=metadata)


def _singer(path: str, params: dict[str, str], url: str, with_metadata: bool) -> Sink:
    from streamer.sinks.singer import SingerSink

    _no_more(params, url, "singer")
    if path in ("", "-"):
        return SingerSink()
    return SingerSink(open(_path(path, url), "ab"))  # noqa: SIM115 - the sink owns it until exit


def _dir(path: str, params: dict[str, str], url: str, with_metadata: bool) -> Sink:
    from streamer.sinks.directory import DirSink

    gzipped = _flag(params, "gzip", url)
    fsync = _flag(params, "fsync", url)
    rotate = params.pop("rotate_mb", None)
    try:
        rotate_bytes = int(float(rotate) * (1 << 20)) if rotate else None
    except ValueError:
        raise ConfigError(f"sink {url}: rotate_mb={rotate!r} is not a number") from None
    _no_more(params, url, "dir")
    return DirSink(_path(path, url, creates_parents=True), gzip=gzipped, rotate_bytes=rotate_bytes, fsync=fsync)


def _sqlite(path: str, params: dict[str, str], url: str, with_metadata: bool) -> Sink:
    from streamer.sinks.sqlite import SqliteSink

    options = _table_options(params, url, "sqlite", synchronous="NORMAL")
    return SqliteSink(_path(path, url, database=True), **options)


def _duckdb(path: str, params: dict[str, str], url: str, with_metadata: bool) -> Sink:
    from streamer.sinks.duckdb import DuckDBSink

    options = _table_options(params, url, "duckdb", memory_limit="256MB")
    return DuckDBSink(_path(path, url, database=True), **options)


def _table_options(params: dict[str, str], url: str, scheme: str, **own: str) -> dict[str, Any]:
    """A file database's keyword arguments: ``table_prefix``, its ``own`` options (name → default),
    ``layout``/``typed``; refuses any other parameter."""
    options: dict[str, Any] = {"table_prefix": params.pop("table_prefix", "")}
    options.update({name: params.pop(name, default) for name, default in own.items()})
    options["layout"], options["typed"] = options_from_params(params)
    _no_more(params, url, scheme)
    return options


def _postgres(path: str, params: dict[str, str], url: str, with_metadata: bool) -> Sink:
    from streamer.sinks.postgres import PostgresSink

    return PostgresSink.from_url(url)


def _parquet(path: str, params: dict[str, str], url: str, with_metadata: bool) -> Sink:
    from streamer.sinks.parquet import ParquetSink

    layout, typed = options_from_params(params)
    if layout != "typed":
        raise ConfigError(f"sink {url}: Parquet files are typed; layout=json is for the database sinks")
    sizes = {k: params.pop(k) for k in ("row_group_size", "row_group_bytes", "rows_per_file") if k in params}
    _no_more(params, url, "parquet")
    try:
        numbers = {k: int(v) for k, v in sizes.items()}
    except ValueError:
        raise ConfigError(f"sink {url}: row_group_size, row_group_bytes and rows_per_file are whole numbers") from None
    return ParquetSink(_path(path, url), typed=typed, **numbers)


SINK_SCHEMES: dict[str, Callable[[str, dict[str, str], str, bool], Sink]] = {
    "jsonl": _jsonl,
    "singer": _singer,
    "dir": _dir,
    "sqlite": _sqlite,
    "duckdb": _duckdb,
    "postgresql": _postgres,
    "postgres": _postgres,
    "parquet": _parquet,
}
"""URL scheme → factory(path, query options, url, with_metadata); add yours here."""


def sink_from_url(url: str, *, with_metadata: bool = False) -> Sink:
    """The sink a ``--sink`` URL names (see the module docstring for the forms)."""
    scheme, path, params = _split(url)
    factory = SINK_SCHEMES.get(scheme)
    if factory is None:
        raise ConfigError(f"sink {url!r}: unknown scheme {scheme!r}; known: {', '.join(sorted(SINK_SCHEMES))}")
    try:
        return factory(path, params, url, with_metadata)
    except ValueError as exc:
        raise ConfigError(f"sink {scheme}: {exc}") from exc


def resolve_sink(sink: Sink | str, *, with_metadata: bool = False) -> Sink:
    """``sink`` itself, or the sink its URL names: every API that takes a sink takes a URL too."""
    if isinstance(sink, str):
        return sink_from_url(sink, with_metadata=with_metadata)
    return sink


def describe(url: str) -> str:
    """The URL without its password, for logs."""
    from streamer.http.redact import redact_text

    scheme, _, rest = url.partition("://")
    if "@" in rest.split("/", 1)[0]:
        userinfo, _, host = rest.partition("@")
        user = userinfo.split(":", 1)[0]
        return redact_text(f"{scheme}://{user}:***@{host}" if ":" in userinfo else url)
    return redact_text(url)


__all__ = ["SINK_SCHEMES", "describe", "ensure_writable", "resolve_sink", "sink_from_url"]
