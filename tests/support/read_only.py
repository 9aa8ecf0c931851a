"""Read-only paths for tests, even as root (``chattr +i``): the fixture undoes them at teardown."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def read_only() -> Iterator[list[Path]]:
    """Paths appended to the list are made read-only, even for root (``chattr +i``), until teardown."""
    paths: list[Path] = []
    yield paths
    for path in paths:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], check=False)
        path.chmod(0o755)


def make_read_only(paths: list[Path], path: Path) -> Path:
    path.chmod(0o555 if path.is_dir() else 0o444)
    paths.append(path)
    if os.geteuid() == 0:  # root ignores mode bits; the immutable flag binds root too
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)]).returncode != 0:
            pytest.skip("running as root on a file system without chattr +i: cannot make a read-only path")
    return path
