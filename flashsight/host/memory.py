"""The process's memory allocators: one heap for Arrow and numpy in flashsight's own processes.

pyarrow's wheels allocate from mimalloc (or jemalloc), numpy from the C library's malloc. In a streaming
ingest the two take turns (Arrow chunks from the SQLite driver and for Parquet, numpy arrays for the ranges,
calls and projection), and memory one of them freed is not reused by the other: on a 2M-kernel + 2M-range
export the peak RSS of `write_nsys` + the two nsys reports was ~90 MiB (14%) higher than with Arrow on the
system allocator, at the same speed. The CLI therefore puts Arrow on the system allocator for its own process
(and the processes it starts) unless the user chose a pool with ARROW_DEFAULT_MEMORY_POOL; a notebook keeps
pyarrow's default unless it calls `use_system_allocator()` itself.
"""

from __future__ import annotations

import os
import sys

POOL_ENV = "ARROW_DEFAULT_MEMORY_POOL"  # pyarrow's own variable: jemalloc, mimalloc or system


def use_system_allocator() -> None:
    """Arrow's default pool -> the system allocator, unless ARROW_DEFAULT_MEMORY_POOL names one already.
    Before pyarrow is imported this only sets the variable (pyarrow reads it, children inherit it)."""
    if os.environ.get(POOL_ENV):
        return
    os.environ[POOL_ENV] = "system"
    if "pyarrow" in sys.modules:
        import pyarrow as pa

        pa.set_memory_pool(pa.system_memory_pool())
