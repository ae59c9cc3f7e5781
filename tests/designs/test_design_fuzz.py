"""Random and mutated files never crash a loader: each is analysed or refused with a
DesignFileError. The mutation loop runs in a child process with an address-space limit and
a per-input alarm (tests/designs/fuzz_worker.py), so a hang, a memory blow-up or a crash of
the interpreter itself fails this test instead of the test run.

COFAB_FUZZ_INPUTS (default 800) and COFAB_FUZZ_SEED (default: a fixed seed, so a failure
reproduces) widen or vary the search; failing inputs are kept under pytest's tmp_path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from designs import DesignFileError, sniff_any, sniff_format, sniff_outline
from tests.corpus import CORPUS

WORKER = Path(__file__).with_name("fuzz_worker.py")
INPUTS = int(os.environ.get("COFAB_FUZZ_INPUTS", "800"))
SEED = int(os.environ.get("COFAB_FUZZ_SEED", "20261125"))


def test_mutated_files_are_analysed_or_refused(tmp_path: Path) -> None:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    run = subprocess.run(
        [
            sys.executable,
            str(WORKER),
            "--seed",
            str(SEED),
            "--inputs",
            str(INPUTS),
            "--out",
            str(tmp_path),
            "--corpus",
            str(CORPUS),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=Path(__file__).parents[2],
    )
    assert run.returncode == 0, f"the fuzz worker died (exit {run.returncode}): {run.stderr[-2000:]}"
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary["failures"] == [], json.dumps(summary["failures"][:5], indent=1)
    assert summary["inputs"] == INPUTS and summary["calls"] == INPUTS * 6
    # the mutations reach past the sniffers: some inputs load, most are refused for a reason
    assert summary["ok"] > INPUTS // 2 and summary["refused"] > INPUTS
    assert {"NotAMeshError", "TruncatedMeshError", "NotAnOutlineError"} <= set(summary["refusals_by_error"])


@settings(max_examples=300, deadline=None)
@given(head=st.binary(max_size=600), extra=st.integers(0, 10**9), name=st.sampled_from([None, "a.stl", "b.svg", "c"]))
def test_sniffers_never_crash(head: bytes, extra: int, name: str | None) -> None:
    size = len(head) + extra if head else 0
    assert sniff_outline(head, name) in (None, "svg", "dxf")
    for sniff in (sniff_format, sniff_any):
        try:
            sniff(head, size, name)
        except DesignFileError as exc:
            assert str(exc) and "\n" not in str(exc)
