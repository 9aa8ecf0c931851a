"""Refusing, before connecting, a path an embedded database would misuse.

``sqlite3.connect`` opens anything and fails later ("file is not a
database"); DuckDB may even accept a foreign file as an empty in-memory
database, so every row written "into" it vanishes with exit code 0.  A file
that exists must therefore prove it is a database of the right kind by its
header before the sink connects.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from streamer.errors import ConfigError


def refuse_foreign_file(path: Path, *, backend: str, magic: bytes, offset: int = 0) -> None:
    """A ``ConfigError`` naming ``path`` unless it is absent, empty or starts like a ``backend`` database.

    ``magic`` is the format's signature at byte ``offset`` (SQLite:
    ``b"SQLite format 3\\0"`` at 0; DuckDB: ``b"DUCK"`` at 8).  An empty file is
    what a database becomes before its first write, so it is accepted.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigError(f"{backend} database {path}: {exc.strerror}") from None
    if stat.S_ISDIR(mode):
        raise ConfigError(f"{backend} database {path} is a directory: name a file inside it")
    if not stat.S_ISREG(mode):
        raise ConfigError(f"{backend} database {path} is not a regular file")
    try:
        with open(path, "rb") as file:
            head = file.read(offset + len(magic))
    except OSError as exc:
        raise ConfigError(f"{backend} database {path}: cannot read it: {exc.strerror}") from None
    if head and head[offset:] != magic:
        raise ConfigError(
            f"{path} exists and is not a {backend} database (no {backend} header); "
            "refusing to write into it: name a new file or an existing database"
        )


def open_error(path: Path, backend: str, exc: BaseException) -> ConfigError:
    """The one-line error for a database that would not open (``exc`` from the driver)."""
    reason = " ".join(str(exc).split()) or type(exc).__name__
    return ConfigError(f"cannot open the {backend} database {path}: {reason}")
