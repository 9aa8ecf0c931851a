"""Scale-out on Dask (extra ``streamer[dask]``): one export's parts across processes and machines.

    from distributed import Client
    import streamer.distributed

    with Client("tcp://scheduler:8786") as client:
        stats = await streamer.distributed.run_on_cluster(
            streamer.UrlSource(urls), "postgresql://loader@db/warehouse", client=client
        )

The coordinator (:mod:`~streamer.distributed.coordinator`) creates and
polls the export once and submits one task per part; workers
(:mod:`~streamer.distributed.worker`) rebuild the part from its spec and
stream it into a sink with many writers (:mod:`~streamer.distributed.targets`),
each part exactly once across worker deaths and coordinator reruns.
See docs/dask.md.
"""

from streamer.distributed.cluster import connect
from streamer.distributed.coordinator import run_on_cluster
from streamer.distributed.sources import PART_CODECS, PartCodec
from streamer.distributed.specs import ClusterPartError, PartResult, PartSpec
from streamer.distributed.targets import CLUSTER_TARGETS, MANIFEST_NAME, ClusterTarget, target_for

__all__ = [
    "CLUSTER_TARGETS",
    "ClusterTarget",
    "MANIFEST_NAME",
    "PART_CODECS",
    "ClusterPartError",
    "PartCodec",
    "PartResult",
    "PartSpec",
    "connect",
    "run_on_cluster",
    "target_for",
]
