"""bench.grbl: G-code lines streamed to the GRBL emulator, against raw writes to the same pty.

Streamed: GrblDriver.run_file with character counting (GRBL answers each line; at most
128 unanswered bytes in flight) until GRBL reports the job done. Raw baseline, side by side:
the same lines written one write() each to an emulator that only reads (no answers, no
flow control). Motion is instant in both (time_scale 0), so the protocol is what is
measured. Headline at 115200 baud (the emulator paces its reads like the serial line of a
real controller); the unpaced pty figures are in the notes. Target: >= 50 % of raw.

    .venv/bin/python -m bench.grbl [--quick]
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import serial

from bench.common import parse_args, report
from cofab.devstack.grbl_emulator import GrblEmulator
from firmware_bridge import MachineState
from firmware_bridge.grbl import GrblDriver


def program_lines(count: int) -> list[str]:
    return [f"G1X{10 + (i * 7) % 300:.3f}Y{10 + (i * 13) % 200:.3f}F3000" for i in range(count)]


def streamed(lines: list[str], baudrate: int | None, tmp: Path) -> float:
    path = tmp / "bench.nc"
    path.write_text("\n".join(lines) + "\n")
    with GrblEmulator(time_scale=0.0, baudrate=baudrate) as emulator:
        with GrblDriver(emulator.port) as driver:
            driver.connect(timeout=10)
            started = time.perf_counter()
            driver.run_file(path, "bench.nc")
            while True:
                snapshot = driver.status()
                if snapshot.state is not MachineState.PRINTING and snapshot.state is not MachineState.FINISHING:
                    break
                time.sleep(0.002)
            seconds = time.perf_counter() - started
        assert snapshot.completion == 100.0, snapshot
        assert emulator.overflows == 0
    return seconds


def raw(lines: list[str], baudrate: int | None) -> float:
    data = [(line + "\n").encode() for line in lines]
    total = sum(len(d) for d in data)
    with GrblEmulator(sink=True, baudrate=baudrate) as emulator:
        port = serial.Serial(emulator.port, 115200, timeout=1, write_timeout=60)
        started = time.perf_counter()
        for chunk in data:
            port.write(chunk)
        while emulator.bytes_received < total:
            time.sleep(0.001)
        seconds = time.perf_counter() - started
        port.close()
    return seconds


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    paced_lines = program_lines(400 if args.quick else 2000)
    fast_lines = program_lines(5000 if args.quick else 50000)
    with tempfile.TemporaryDirectory(prefix="bench-grbl-") as tmp:
        paced_stream = streamed(paced_lines, 115200, Path(tmp))
        paced_raw = raw(paced_lines, 115200)
        free_stream = streamed(fast_lines, None, Path(tmp))
        free_raw = raw(fast_lines, None)
    rate = len(paced_lines) / paced_stream
    base = len(paced_lines) / paced_raw
    report(
        "bench.grbl",
        values={"lines_per_s": round(rate), "lines": len(paced_lines), "baud": 115200},
        baseline={
            "lines_per_s": round(base),
            "what": "one write() per line to a reading-only emulator, same pty and baud",
        },
        ratio={"streamed_over_raw": round(rate / base, 3)},
        notes={
            "unpaced_pty": {
                "streamed_lines_per_s": round(len(fast_lines) / free_stream),
                "raw_lines_per_s": round(len(fast_lines) / free_raw),
                "ratio": round(free_raw / free_stream, 3),
                "lines": len(fast_lines),
            },
            "line_bytes": round(sum(len(x) + 1 for x in paced_lines) / len(paced_lines), 1),
        },
        target=">= 50 % of the raw line rate",
    )


if __name__ == "__main__":
    main()
