"""What every benchmark shares: the --quick flag, machine notes, child-process measurement
with exact peak RSS, percentiles, and the one-JSON-object-on-the-last-line report."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


def parse_args(description: str, add_arguments=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="a short run (smaller inputs, fewer repeats)")
    if add_arguments is not None:
        add_arguments(parser)
    return parser.parse_args()


def machine_notes() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg": [round(v, 2) for v in os.getloadavg()],
    }


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


def run_measured(
    cmd: Sequence[str], *, env: dict | None = None, cwd: Path | None = None, timeout_s: float = 3600
) -> Measured:
    """Run a command as a child and return its wall time and its own peak RSS (wait4's rusage,
    so only that child counts, not this process or earlier children)."""
    started = time.perf_counter()
    process = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd)
    deadline = started + timeout_s
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            process.kill()
        time.sleep(0.002)
    seconds = time.perf_counter() - started
    stdout = process.stdout.read().decode(errors="replace")
    stderr = process.stderr.read().decode(errors="replace")
    process.returncode = os.waitstatus_to_exitcode(status)
    return Measured(seconds, usage.ru_maxrss / 1024, process.returncode, stdout, stderr)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def report(
    name: str, *, values: dict, baseline: dict, ratio: dict, notes: dict | None = None, target: str | None = None
) -> None:
    """Print the benchmark's result as one JSON object on the last line of stdout."""
    result = {
        "bench": name,
        "values": values,
        "baseline": baseline,
        "ratio": ratio,
        "target": target,
        "machine": machine_notes(),
        "notes": notes or {},
    }
    sys.stdout.flush()
    print(json.dumps(result), flush=True)
