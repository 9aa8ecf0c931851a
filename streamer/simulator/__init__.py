"""A local export server: vendor APIs plus their files, with real HTTP and faults."""

from streamer.simulator.content import PartContent
from streamer.simulator.faults import FaultPlan
from streamer.simulator.server import SimExport, Simulator

__all__ = ["FaultPlan", "PartContent", "SimExport", "Simulator"]
