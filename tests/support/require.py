"""What a test needs, and what happens when it is missing: skip locally, fail in CI.

CI (``.ci/run``) exports ``STREAMER_REQUIRE_ALL=1``: a test that cannot run
there because PostgreSQL or a package is missing is a failure, not a silent
skip that lets pytest exit 0.  On a developer's machine the same test skips
with the reason and how to install what it needs.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import NoReturn

import pytest

REQUIRE_ALL_ENV = "STREAMER_REQUIRE_ALL"


def require_all() -> bool:
    """Whether a missing requirement fails the test (CI) instead of skipping it."""
    return os.environ.get(REQUIRE_ALL_ENV, "") not in ("", "0")


def missing(reason: str) -> NoReturn:
    """Skip (locally) or fail (under ``STREAMER_REQUIRE_ALL=1``) because ``reason`` is missing."""
    if require_all():
        pytest.fail(f"{reason} ({REQUIRE_ALL_ENV}=1: this test must run, not skip)", pytrace=False)
    pytest.skip(reason)


def require_module(name: str, install: str) -> ModuleType:
    """``importorskip`` that fails under ``STREAMER_REQUIRE_ALL=1``; ``install`` says how to get it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing(f"{name} is not importable ({exc}); {install}")
