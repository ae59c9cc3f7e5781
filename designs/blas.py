"""Keep numpy's BLAS to one thread in short-lived processes that never call it.

Why: numpy loads OpenBLAS when it is imported, and OpenBLAS starts a pool of worker
threads right then. The mesh analysis uses no BLAS routine (`designs.meshstats` avoids
`@` on purpose), so in a one-shot process such as `python -m designs.analysis_cli` or
`cofab design analyze` the pool is pure start-up cost: measured here, ~40 ms of CPU and
~50 ms of wall time on a 2-core machine, about a tenth of analysing a 1.3-million-face STL.
The setting only takes effect before numpy is first imported, and a value the user has set
wins.
"""

from __future__ import annotations

import os

__all__ = ["BLAS_THREAD_VARIABLES", "single_threaded_blas"]

#: The variables OpenBLAS (numpy's wheels), OpenMP builds and MKL read at load time.
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def single_threaded_blas() -> None:
    """Ask for one BLAS thread unless the environment says otherwise. Call it first thing
    in a process's entry point, before anything imports numpy."""
    for name in BLAS_THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
