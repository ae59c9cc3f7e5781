"""Process-wide settings for a short-lived process that analyses one file and exits
(`python -m designs.analysis_cli`, `cofab design analyze`).

Why: two defaults that suit a long-running hub or node cost a one-shot analysis more than
some of its steps do. Measured on a 1.3-million-face binary STL, on a 2-core VM:
- numpy loads OpenBLAS on import, and OpenBLAS starts a pool of worker threads right then.
  The analysis calls no BLAS routine (`designs.meshstats` avoids `@` on purpose); the pool
  cost ~40 ms of CPU and ~50 ms of wall time. One thread is asked for instead; the setting
  only takes effect before numpy is first imported, and a value the user has set wins.
- glibc's malloc hands freed blocks of more than ~128 KB back to the kernel, which must
  zero them again when they are next touched, and the analysis allocates numpy temporaries
  of that size for every block of faces: 37,500 page faults per run. Keeping freed memory
  for reuse (higher mmap and trim thresholds) leaves 9,900 and takes ~50 ms (8-10 %) of
  CPU off the run (`perf stat -r 10`: 533-563 ms against 574-625 ms), for ~4 MB more peak
  memory. A long-running process keeps the defaults, so it gives memory back.
"""

from __future__ import annotations

import ctypes
import logging
import os

__all__ = [
    "BLAS_THREAD_VARIABLES",
    "keep_freed_memory",
    "prepare_one_shot_process",
    "single_threaded_blas",
]

log = logging.getLogger(__name__)

#: The variables OpenBLAS (numpy's wheels), OpenMP builds and MKL read at load time.
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

# glibc's mallopt parameters (malloc.h) and the values used: allocations up to the largest
# mmap threshold glibc accepts (32 MiB on 64-bit) come from the heap, and the heap is not
# trimmed while the process runs (the largest int mallopt takes)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
_TRIM_THRESHOLD_BYTES = 2**31 - 1


def single_threaded_blas() -> None:
    """Ask for one BLAS thread unless the environment says otherwise. Call it before
    anything imports numpy."""
    for name in BLAS_THREAD_VARIABLES:
        os.environ.setdefault(name, "1")


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for reuse instead of returning it to the kernel
    at once. Returns False where it cannot (no mallopt, e.g. macOS), which only costs time."""
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process already runs on
    except (OSError, AttributeError):
        log.debug("no mallopt here; keeping the allocator's defaults")
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES)
    )


def prepare_one_shot_process() -> None:
    """Both settings above. Call it first thing in a one-shot entry point."""
    single_threaded_blas()
    keep_freed_memory()
