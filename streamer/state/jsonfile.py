"""The default state store: one JSON file, replaced atomically, readable by its owner only.

A save writes a temporary file in the same directory (created ``0600``),
fsyncs it, ``os.replace``-s it over the state file and fsyncs the directory:
after a crash at any point the state file is either the old document or the
new one, never a torn mix, and a saved document survives a power loss.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from streamer.files import read_regular_file
from streamer.state.store import BaseStateStore, StateError

STATE_FILE_MODE = 0o600


class JsonFileStateStore(BaseStateStore):
    """State in ``path`` (created on the first save)."""

    def __init__(self, path: str | os.PathLike[str], *, flush_interval: float = 0.5) -> None:
        super().__init__(flush_interval=flush_interval)
        self.path = Path(path)
        self._lock_file: BinaryIO | None = None

    @property
    def where(self) -> str:
        return f"state file {self.path}"

    def acquire(self) -> None:
        """An exclusive ``flock`` on ``<state>.lock``: two live runs never share a state.

        A restarted worker whose predecessor is still running fails fast
        instead of interleaving two runs' checkpoints; the kernel drops the
        lock of a killed process, so a crash never leaves the state locked.
        """
        if self._lock_file is not None:
            return
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, STATE_FILE_MODE)
        except OSError as exc:
            raise StateError(f"cannot create the lock file {lock_path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StateError(
                f"{self.where} is in use by another streamer run (lock {lock_path}); "
                "wait for it to finish or stop it first"
            ) from None
        self._lock_file = os.fdopen(fd, "rb")  # a file object: even a store never closed frees it when collected

    def release(self) -> None:
        lock, self._lock_file = self._lock_file, None
        if lock is not None:
            lock.close()  # closing drops the flock

    def read(self) -> dict[str, Any] | None:
        try:
            data = read_regular_file(self.path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"cannot read {self.where}: {exc.strerror}") from exc
        if not data.strip():
            return None
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise StateError(f"{self.where} is not valid JSON ({exc}); fix or delete it to start over") from exc

    def write(self, document: dict[str, Any]) -> None:
        payload = orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
        directory = self.path.parent if str(self.path.parent) else Path(".")
        tmp = directory / f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, STATE_FILE_MODE)
        try:
            os.fchmod(fd, STATE_FILE_MODE)  # whatever the umask
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        os.close(fd)
        try:
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    """Persist the rename itself (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def open_state(state: BaseStateStore | str | os.PathLike[str] | None) -> BaseStateStore | None:
    """A store from what a caller passed: a store as is, a path as a :class:`JsonFileStateStore`."""
    if state is None or isinstance(state, BaseStateStore):
        return state
    if isinstance(state, (str, os.PathLike)):
        return JsonFileStateStore(state)
    if hasattr(state, "acknowledge") and hasattr(state, "checkpoints"):
        return state  # type: ignore[return-value]  # a custom StateStore implementation
    raise TypeError(f"state must be a path or a StateStore, not {type(state).__name__}")
