"""A GRBL 1.1 controller emulated on a pseudo-terminal: THE ONE FAKE IN THIS PROJECT.

Everything else cofab tests against is the real thing (Mosquitto, OctoPrint's virtual
printer, PrusaSlicer, PostgreSQL). A GRBL controller is firmware on a microcontroller
behind a serial line, and no GRBL simulator is installable here (docs/octoprint.md), so
this module plays one on a pty (`os.openpty()`): the driver opens `emulator.port` with
pyserial exactly as it would open /dev/ttyUSB0.

What it reproduces, because the driver depends on it:
- the welcome banner, `ok` / `error:N` per line, `ALARM:N`, `[MSG:...]`;
- the 128-byte receive buffer: bytes beyond it are lost and counted in `overflows` (a
  correct character-counting streamer never causes one), and a 15-block planner, so a
  line is answered only once the planner has room for it;
- real-time commands handled the moment they arrive: `?` status report
  (`<Idle|MPos:..|FS:..|Bf:..>`), `!` feed hold (Hold:1 then Hold:0), `~` resume,
  0x18 soft reset (ALARM:3 when it interrupts motion);
- alarm lock (G-code answers error:9 until `$X` or `$H`), `$$`, `$I`, `$G`, `$N=v`;
- motion that takes simulated time: distance / feed x `time_scale` (0 = instant);
- optional pacing at a baud rate, as a real serial line would limit both sides.
Fault injection: `alarm_after(n)` (e.g. a hard limit mid-job), `error_on_lines({k: code})`,
`drop_connection()` (the USB cable pulled).

What it does not do: real G-code semantics beyond what the tests need (arcs move to their
end point; no acceleration), and settings have no effect except $20-style bookkeeping.

Run standalone: `python -m cofab.devstack.grbl_emulator` prints the port and serves until
interrupted.
"""

from __future__ import annotations

import math
import os
import re
import select
import threading
import time
import tty
from collections import deque
from types import TracebackType

from firmware_bridge.gcode_check.interpreter import GRBL_G, GRBL_M

RX_BUFFER = 128
PLANNER_BLOCKS = 15
LINE_LIMIT = 80
BANNER = b"\r\nGrbl 1.1h ['$' for help]\r\n"
_WORD = re.compile(rb"([A-Z])([-+]?(?:\d+\.?\d*|\.\d+)?)")
# The words GRBL 1.1 accepts are the G-code checker's (one list); the emulator compares
# whole numbers only (G38.2 is accepted as G38), as its line parser does.
_G_OK = frozenset(int(g) for g in GRBL_G)
_M_OK = frozenset(int(m) for m in GRBL_M)
_WORDS_OK = set(b"GMXYZFSPIJKLNRT")


class GrblEmulator:
    """One emulated GRBL controller. Use as a context manager or `start()` / `stop()`."""

    def __init__(
        self,
        *,
        time_scale: float = 0.0,
        baudrate: int | None = None,
        soft_limits_mm: tuple[float, float, float] | None = None,
        sink: bool = False,
    ) -> None:
        self.time_scale = time_scale
        self.baudrate = baudrate
        self.soft_limits_mm = soft_limits_mm
        self.sink = sink
        """Only read and count bytes (the raw-write baseline of bench.grbl)."""
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._lock = threading.RLock()
        self._write_lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._rx = bytearray()
        self._planner: deque[tuple[tuple[float, float, float], float, float]] = deque()
        self._executing = False
        self._hold = 0  # 0 no hold, 1 decelerating, 2 held
        self.pos = [0.0, 0.0, 0.0]
        self.alarm: int | None = None
        self.settings: dict[str, str] = {"$0": "10", "$20": "0", "$22": "0", "$30": "1000", "$32": "1"}
        self._absolute = True
        self._inches = False
        self._motion = 0
        self._feed = 0.0
        self._spindle = 0.0
        self._stopping = threading.Event()
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._alarm_after: tuple[int, int] | None = None
        self._errors: dict[int, int] = {}
        # What tests and benchmarks look at:
        self.overflows = 0
        self.max_rx_fill = 0
        self.bytes_received = 0
        self.lines_received = 0
        self.lines_executed: list[bytes] = []
        self.realtime: list[bytes] = []

    def __repr__(self) -> str:
        return f"GrblEmulator({self.port!r})"

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> GrblEmulator:
        targets = [self._reader] if self.sink else [self._reader, self._parser, self._mover]
        for target in targets:
            thread = threading.Thread(target=target, name=f"grbl-emu-{target.__name__}", daemon=True)
            thread.start()
            self._threads.append(thread)
        if not self.sink:
            self._send(BANNER)
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(2)
        self._close()
        try:
            os.close(self._slave)
        except OSError:
            pass

    def __enter__(self) -> GrblEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _close(self) -> None:
        with self._write_lock:
            if not self._closed:
                self._closed = True
                try:
                    os.close(self._master)
                except OSError:
                    pass

    # --- fault injection --------------------------------------------------------------

    def alarm_after(self, lines: int, code: int = 1) -> None:
        """Raise `ALARM:code` once `lines` G-code lines have been executed (1 = hard limit)."""
        self._alarm_after = (lines, code)

    def error_on_lines(self, errors: dict[int, int]) -> None:
        """Answer `error:code` instead of `ok` to the k-th line received (1-based)."""
        self._errors = dict(errors)

    def drop_connection(self) -> None:
        """Close the pty as a pulled USB cable would: the driver's next read fails."""
        self._stopping.set()
        self._close()

    # --- state ------------------------------------------------------------------------

    @property
    def state(self) -> str:
        with self._lock:
            if self.alarm is not None:
                return "Alarm"
            if self._hold:
                return f"Hold:{0 if self._hold == 2 else 1}"
            if self._planner or self._executing:
                return "Run"
            return "Idle"

    def status_report(self) -> bytes:
        with self._lock:
            x, y, z = self.pos
            free_blocks = PLANNER_BLOCKS - len(self._planner)
            free_rx = RX_BUFFER - len(self._rx)
            feed = self._feed if self._executing else 0.0
            text = (
                f"<{self.state}|MPos:{x:.3f},{y:.3f},{z:.3f}|Bf:{free_blocks},{free_rx}"
                f"|FS:{feed:.0f},{self._spindle:.0f}>\r\n"
            )
        return text.encode()

    def _send(self, data: bytes) -> None:
        with self._write_lock:
            if self._closed:
                return
            try:
                os.write(self._master, data)
            except OSError:
                pass

    def _enter_alarm(self, code: int) -> None:
        self._planner.clear()
        self._executing = False
        self._hold = 0
        self.alarm = code
        self._send(f"ALARM:{code}\r\n".encode())
        self._cond.notify_all()

    # --- serial receive: real-time bytes at once, the rest into the 128-byte buffer -----

    def _reader(self) -> None:
        while not self._stopping.is_set():
            try:
                ready, _, _ = select.select([self._master], [], [], 0.05)
                if not ready:
                    continue
                data = os.read(self._master, 4096)
            except OSError:
                return
            if not data:
                return
            if self.baudrate:  # the bytes arrive no faster than the line carries them
                time.sleep(len(data) * 10 / self.baudrate)
            self.bytes_received += len(data)
            if self.sink:
                continue
            with self._cond:
                for byte in data:
                    if byte in (0x3F, 0x21, 0x7E, 0x18) or byte >= 0x80:
                        self._realtime(byte)
                    elif len(self._rx) >= RX_BUFFER:
                        self.overflows += 1
                    else:
                        self._rx.append(byte)
                self.max_rx_fill = max(self.max_rx_fill, len(self._rx))
                self._cond.notify_all()

    def _realtime(self, byte: int) -> None:
        self.realtime.append(bytes([byte]))
        if byte == 0x3F:  # ?
            self._send(self.status_report())
        elif byte == 0x21:  # ! feed hold
            if self.alarm is None and (self._planner or self._executing) and not self._hold:
                self._hold = 1
                threading.Timer(0.02, self._held).start()
        elif byte == 0x7E:  # ~ cycle start / resume
            if self._hold:
                self._hold = 0
                self._cond.notify_all()
        elif byte == 0x18:  # soft reset
            moving = bool(self._planner or self._executing) and not self._hold
            self._rx.clear()
            self._planner.clear()
            self._executing = False
            self._hold = 0
            if moving:
                self.alarm = 3
                self._send(b"ALARM:3\r\n")
            self._send(BANNER)
            if self.alarm is not None:
                self._send(b"[MSG:'$H'|'$X' to unlock]\r\n")
            self._cond.notify_all()

    def _held(self) -> None:
        with self._cond:
            if self._hold == 1:
                self._hold = 2

    # --- line parser: takes a line only when the planner has room -------------------

    def _parser(self) -> None:
        while not self._stopping.is_set():
            with self._cond:
                while not self._stopping.is_set() and (b"\n" not in self._rx or len(self._planner) >= PLANNER_BLOCKS):
                    self._cond.wait(0.1)
                if self._stopping.is_set():
                    return
                cut = self._rx.index(b"\n")
                line = bytes(self._rx[:cut]).strip(b"\r ")
                del self._rx[: cut + 1]
                self._cond.notify_all()
                if not line:
                    continue
                self.lines_received += 1
                reply = self._line(line)
            self._send(reply)

    def _line(self, line: bytes) -> bytes:
        code = self._errors.get(self.lines_received)
        if code is not None:
            return f"error:{code}\r\n".encode()
        if len(line) > LINE_LIMIT:
            return b"error:11\r\n"
        line = line.upper().replace(b" ", b"")
        if line.startswith(b"$"):
            return self._system(line)
        if self.alarm is not None:
            return b"error:9\r\n"
        return self._gcode(line)

    def _system(self, line: bytes) -> bytes:
        if line == b"$X":
            self.alarm = None
            return b"[MSG:Caution: Unlocked]\r\nok\r\n"
        if line == b"$H":
            self.alarm = None
            self.pos = [0.0, 0.0, 0.0]
            return b"ok\r\n"
        if line == b"$$":
            return b"".join(f"{k}={v}\r\n".encode() for k, v in self.settings.items()) + b"ok\r\n"
        if line == b"$I":
            return b"[VER:1.1h.20190825:cofab-emulator]\r\n[OPT:V,15,128]\r\nok\r\n"
        if line == b"$G":
            mode = f"G{self._motion} G54 G17 G{20 if self._inches else 21} G{90 if self._absolute else 91}"
            return f"[GC:{mode} G94 M5 M9 T0 F{self._feed:g} S{self._spindle:g}]\r\nok\r\n".encode()
        if line in (b"$#", b"$C", b"$N"):
            return b"ok\r\n"
        match = re.fullmatch(rb"\$(\d+)=([-+\d.]+)", line)
        if match:
            self.settings[f"${match[1].decode()}"] = match[2].decode()
            return b"ok\r\n"
        return b"error:3\r\n"

    def _gcode(self, line: bytes) -> bytes:
        words: dict[str, float] = {}
        gcodes: list[float] = []
        mcodes: list[float] = []
        end = 0
        for match in _WORD.finditer(line):
            if match.start() != end:
                return b"error:1\r\n"
            end = match.end()
            letter, text = chr(match[1][0]), match[2]
            if match[1][0] not in _WORDS_OK:
                return b"error:20\r\n"
            if not text:
                return b"error:2\r\n"
            value = float(text)
            if letter == "G":
                gcodes.append(value)
            elif letter == "M":
                mcodes.append(value)
            elif letter in words:
                return b"error:25\r\n"
            else:
                words[letter] = value
        if end != len(line):
            return b"error:1\r\n"
        for g in gcodes:
            if int(g) not in _G_OK:
                return b"error:20\r\n"
        for m in mcodes:
            if int(m) not in _M_OK:
                return b"error:20\r\n"
        for g in gcodes:
            if g in (90, 91):
                self._absolute = g == 90
            elif g in (20, 21):
                self._inches = g == 20
            elif g in (0, 1, 2, 3):
                self._motion = int(g)
            elif g == 4:
                x, y, z = self._planned_end()
                self._planner.append(((x, y, z), words.get("P", 0.0) * self.time_scale, 0.0))
        for m in mcodes:
            if m in (3, 4):
                self._spindle = words.get("S", self._spindle)
            elif m == 5:
                self._spindle = 0.0
        if "S" in words and not mcodes:
            self._spindle = words["S"]
        if "F" in words:
            self._feed = words["F"] * (25.4 if self._inches else 1.0)
        if any(a in words for a in "XYZ") and not any(g in (4, 10, 28, 30, 92, 53) for g in gcodes):
            if self._motion != 0 and self._feed <= 0:
                return b"error:22\r\n"
            return self._move(words, line)
        self.lines_executed.append(line)
        return b"ok\r\n"

    def _planned_end(self) -> list[float]:
        return list(self._planner[-1][0]) if self._planner else list(self.pos)

    def _move(self, words: dict[str, float], line: bytes) -> bytes:
        start = self._planned_end()
        target = list(start)
        scale = 25.4 if self._inches else 1.0
        for i, axis in enumerate("XYZ"):
            if axis in words:
                value = words[axis] * scale
                target[i] = value if self._absolute else start[i] + value
        limits = self.soft_limits_mm
        if limits and any(not 0 <= t <= lim for t, lim in zip(target, limits, strict=True)):
            self._enter_alarm(2)
            return b"ok\r\n"  # GRBL answers the line, then alarms
        distance = math.dist(start, target)
        feed = 6000.0 if self._motion == 0 else self._feed
        seconds = distance / feed * 60.0 if feed > 0 else 0.0
        self._planner.append((tuple(target), seconds * self.time_scale, feed))  # type: ignore[arg-type]
        self.lines_executed.append(line)
        if self._alarm_after and len(self.lines_executed) >= self._alarm_after[0]:
            code = self._alarm_after[1]
            self._alarm_after = None
            self._enter_alarm(code)
        self._cond.notify_all()
        return b"ok\r\n"

    # --- motion: blocks take simulated time; a hold pauses them ----------------------

    def _mover(self) -> None:
        while not self._stopping.is_set():
            with self._cond:
                while not self._stopping.is_set() and (not self._planner or self._hold):
                    self._cond.wait(0.1)
                if self._stopping.is_set():
                    return
                target, seconds, _feed = self._planner[0]
                self._executing = True
            remaining = seconds
            while remaining > 0 and not self._stopping.is_set():
                step = min(remaining, 0.01)
                time.sleep(step)
                with self._lock:
                    if not self._executing:  # reset or alarm dropped the block
                        break
                    if self._hold:
                        continue
                remaining -= step
            with self._cond:
                if self._executing and self._planner and self._planner[0][0] == target:
                    self._planner.popleft()
                    self.pos = list(target)
                self._executing = False
                self._cond.notify_all()


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--baudrate", type=int, default=None)
    args = parser.parse_args()
    with GrblEmulator(time_scale=args.time_scale, baudrate=args.baudrate) as emulator:
        print(emulator.port, flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
