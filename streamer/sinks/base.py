"""The sink contract.

``write`` is awaited for every batch and nothing else is read from the
network while the buffers ahead of it are full: a sink that takes its time
slows the download down to the socket.  When ``write`` returns, the batch is
considered delivered and its checkpoint may be saved; a sink that stores
``batch.checkpoint`` together with the records gets exactly-once resume.
Batches may be empty: the last batch of each part (``checkpoint.done``)
marks its end.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from streamer.records import Batch


@runtime_checkable
class Sink(Protocol):
    async def open(self) -> None:
        """Prepare (open files, connect); called once before the first batch."""

    async def write(self, batch: Batch) -> None:
        """Deliver one batch; return only when it is as durable as the sink promises."""

    async def close(self, error: BaseException | None) -> None:
        """Flush and release; ``error`` is set when the run failed or was cancelled."""
