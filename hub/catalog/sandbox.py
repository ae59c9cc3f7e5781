"""Run one design file's analysis in a child process with a memory cap and a time limit.

Why a child: analysis loads meshes that a hostile or careless upload can make huge (a 3MF
that inflates, a mesh whose repair explodes); in the hub's own process that memory is the
hub's, and a stuck parser holds a worker thread for ever. The child gets `RLIMIT_AS` (its
address space, so the cap includes the few hundred MB of numpy/scipy/trimesh mappings) and
is killed when it runs past the time limit; either way the hub answers 422 with the reason
and keeps serving.

Why a fresh process per file, started by a forkserver, rather than a pool: a pool worker
killed for a timeout, or dying on a failed allocation in C code, breaks the whole
`ProcessPoolExecutor` and fails every other upload's analysis in flight; a process per file
confines a hostile file to its own analysis. A plain spawn would pay the imports (~0.5 s)
per file; the forkserver imports numpy and trimesh once (`_PRELOAD`) and forks a warm child
for each file, so a small file costs milliseconds more than in a thread. The forkserver
never handles a file itself, so it stays small and clean.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import resource
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

__all__ = ["AnalysisLimits", "AnalysisOverLimit", "AnalysisRejected", "run_limited"]

log = logging.getLogger(__name__)

_PRELOAD = ["hub.catalog.analysis_preload"]
_MEMORY_EXIT = 86  # the child could not even report its MemoryError


@dataclass(frozen=True)
class AnalysisLimits:
    memory_mb: int
    timeout_s: float


class AnalysisRejected(ValueError):
    """The analysis refused the file (the child's `rejected` exception); message for people."""


class AnalysisOverLimit(ValueError):
    """The analysis went past the memory cap or the time limit and was stopped."""


_context: multiprocessing.context.ForkServerContext | None = None


def _forkserver() -> multiprocessing.context.ForkServerContext:
    global _context  # noqa: PLW0603 - one forkserver per process, started on first use
    if _context is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        _context = context
    return _context


def run_limited(func: Callable[..., Any], *args: Any, limits: AnalysisLimits, rejected: type[BaseException]) -> Any:
    """Call `func(*args)` in a fresh child under `limits` and return its result (blocking:
    call it from a worker thread). `func` and its arguments and result must pickle; `func`
    must be a module-level function. An exception of type `rejected` in the child becomes
    AnalysisRejected here; going over a limit becomes AnalysisOverLimit; anything else
    becomes RuntimeError with the child's traceback."""
    receiver, sender = _forkserver().Pipe(duplex=False)
    child = _forkserver().Process(
        target=_child_main, args=(sender, func, args, limits.memory_mb, rejected), name="cofab-analysis", daemon=True
    )
    child.start()
    sender.close()
    outcome = None
    try:
        answered = receiver.poll(limits.timeout_s)  # True on an answer and on the child's death
        if answered:
            outcome = receiver.recv()
    except EOFError:
        pass  # died before answering
    finally:
        receiver.close()
    if not answered:
        child.kill()
        child.join()
        log.warning("analysis stopped at the time limit", extra={"timeout_s": limits.timeout_s})
        raise AnalysisOverLimit(f"analysis exceeded {limits.timeout_s:g} s and was stopped")
    child.join(timeout=limits.timeout_s)  # it answered or died: it is exiting
    if child.is_alive():
        child.kill()
        child.join()
    if outcome is None:
        code = child.exitcode
        log.warning("analysis process died", extra={"exitcode": code, "memory_mb": limits.memory_mb})
        if code == _MEMORY_EXIT or (code is not None and code < 0):
            raise AnalysisOverLimit(
                f"analysis exceeded {limits.memory_mb:,} MB (or crashed; exit {code}) and was stopped"
            )
        raise RuntimeError(f"the analysis process ended with exit code {code} without an answer")
    kind, value = outcome
    if kind == "ok":
        return value
    if kind == "rejected":
        raise AnalysisRejected(value)
    if kind == "memory":
        log.warning("analysis over its memory cap", extra={"memory_mb": limits.memory_mb})
        raise AnalysisOverLimit(f"analysis exceeded {limits.memory_mb:,} MB and was stopped")
    raise RuntimeError(f"the analysis failed:\n{value}")


def _child_main(
    sender: Connection, func: Callable[..., Any], args: tuple, memory_mb: int, rejected: type[BaseException]
) -> None:
    """In the child: cap the address space, run, send one (kind, value) answer, exit."""
    cap = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    try:
        try:
            outcome: tuple[str, Any] = ("ok", func(*args))
        except MemoryError:
            outcome = ("memory", None)
        except rejected as exc:
            outcome = ("rejected", str(exc))
        except Exception:
            outcome = ("error", traceback.format_exc())
        sender.send(outcome)
    except MemoryError:
        os._exit(_MEMORY_EXIT)
    finally:
        sender.close()
