"""The vendor APIs the simulator can serve, each a module with ``install(sim)``.

``install(sim)`` adds the vendor's routes to ``sim.app`` (before the server
starts) and keeps its state on ``sim``.
"""

from __future__ import annotations

import importlib

from streamer.simulator.server import Simulator

VENDOR_MODULES: dict[str, str] = {}
"""Vendor name → module path; each module defines ``install(sim, **options)``."""
VENDOR_MODULES["logisense"] = "streamer.simulator.logisense"
VENDOR_MODULES["mews"] = "streamer.simulator.mews"
VENDOR_MODULES["rebilly"] = "streamer.simulator.rebilly"


def install(sim: Simulator, *names: str) -> None:
    """Mount the named vendor APIs (all known ones when no name is given)."""
    for name in names or tuple(VENDOR_MODULES):
        module = importlib.import_module(VENDOR_MODULES[name])
        module.install(sim)
