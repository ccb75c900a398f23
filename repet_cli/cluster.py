"""Re-exports only: the Dask executor is :mod:`repet_cli.batch.dask` now."""

from .batch.dask import (
    CLUSTERS,
    IN_FLIGHT_PER_THREAD,
    QUIET_WORKERS,
    Dask,
    remove_stale_parts,
    require_dask,
)
from .batch.heap import steady_heap as restore_malloc_thresholds

__all__ = [
    "CLUSTERS",
    "IN_FLIGHT_PER_THREAD",
    "QUIET_WORKERS",
    "Dask",
    "remove_stale_parts",
    "require_dask",
    "restore_malloc_thresholds",
]
