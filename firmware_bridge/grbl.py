"""Drive a GRBL 1.1 laser cutter or CNC router over a serial port (pyserial).

GRBL has no file storage: the host streams the program line by line while the machine
runs, so the driver owns the job. It uses GRBL's character-counting protocol: GRBL has a
128-byte receive buffer and answers every line with `ok` or `error:N` once it has taken
it; the driver keeps the bytes of unanswered lines at or under 128, so GRBL's buffer is
always full but never overflows (the send-and-wait alternative leaves the planner
starving on short moves). Real-time bytes (`?` status, `!` hold, `~` resume, 0x18 reset)
bypass the buffer.

Safety choices:
- An `error:N` or `ALARM:N` during a job stops the job: the driver holds and resets GRBL
  rather than stream the rest of a program GRBL has just said is wrong.
- A lost serial connection ends the job as failed (nothing streams it any more).
- The driver never unlocks an alarm by itself; `unlock()` is for a person.
Progress is the share of program lines GRBL has acknowledged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import serial

from firmware_bridge import errors
from firmware_bridge.driver import MachineDriver
from firmware_bridge.grbl_parse import (
    CYCLE_START,
    FEED_HOLD,
    RX_BUFFER_BYTES,
    SOFT_RESET,
    STATUS_QUERY,
    GrblStatus,
    clean_line,
    parse_response,
)
from firmware_bridge.state import JobProgress, MachineCapabilities, MachineState

logger = logging.getLogger(__name__)

EXTENSIONS = (".gcode", ".nc", ".ngc", ".gc", ".tap", ".g", ".cnc")


@dataclass
class _Job:
    name: str
    path: Path
    total: int
    started_at: float = field(default_factory=time.monotonic)
    sent: int = 0
    acked: int = 0
    streamed_all: bool = False
    done: bool = False
    cancelled: bool = False
    error: str | None = None
    last_ack_seq: int = -1
    """The driver's ack counter when the last program line was answered."""


class GrblDriver(MachineDriver):
    """One GRBL controller on `port` (e.g. /dev/ttyUSB0).

    `process` ("laser" or "CNC") and `work_area_mm` (x, y, z) describe the machine for
    routing; GRBL itself does not report them.
    """

    def __init__(
        self,
        port: str,
        baudrate: int = 115200,
        *,
        process: str = "laser",
        work_area_mm: Sequence[float] | None = None,
        status_timeout_s: float = 2.0,
        rx_buffer_bytes: int = RX_BUFFER_BYTES,
    ) -> None:
        if not port:
            raise ValueError("GRBL port is empty; give the serial device, e.g. /dev/ttyUSB0")
        if work_area_mm is not None and len(work_area_mm) != 3:
            raise ValueError("work_area_mm must be [x, y, z]")
        self._port = port
        self._baudrate = baudrate
        self._status_timeout_s = status_timeout_s
        self._rx_limit = rx_buffer_bytes
        self._capabilities = MachineCapabilities(
            process=process,
            build_volume_mm=tuple(float(v) for v in work_area_mm) if work_area_mm else None,  # type: ignore[arg-type]
            extruders=0,
            heated_bed=False,
            file_extensions=EXTENSIONS,
        )
        self._serial: serial.Serial | None = None
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self._inflight: deque[tuple[int, bool]] = deque()  # (bytes, is a job line)
        self._inflight_bytes = 0
        self._replies: deque[str | None] = deque()  # answers to send_commands: None = ok
        self._status: GrblStatus | None = None
        self._status_seq = 0
        self._ack_seq = 0
        self._status_ack = -1
        self._alarm: str | None = None
        self._lost: str | None = None
        self._failed: str | None = None
        self._job: _Job | None = None
        self._stored: dict[str, Path] = {}
        self._reader: threading.Thread | None = None
        self._streamer: threading.Thread | None = None
        super().__init__()

    def __str__(self) -> str:
        return f"GRBL on {self._port}"

    def __repr__(self) -> str:
        return f"GrblDriver({self._port!r}, {self._baudrate})"

    @property
    def capabilities(self) -> MachineCapabilities:
        return self._capabilities

    # --- connection -------------------------------------------------------------------

    def connect(self, timeout: float = 30.0) -> None:
        """Open the port, check that GRBL answers a status query and is not in alarm."""
        if self._serial is None:
            self._open()
        streamer = self._streamer
        if streamer is not None and streamer is not threading.current_thread():
            streamer.join(10)  # a failing job is still stopping the machine
        status = self._query_status(min(timeout, self._status_timeout_s * 2))
        with self._cond:
            self._failed = None
            if self._job is not None and (self._job.done or self._job.error or self._job.cancelled):
                self._job = None
            if status.state == "Alarm":
                raise errors.MachineNotReady(
                    f"{self} is in alarm ({self._alarm or 'locked at start-up'}); a person must "
                    "check the machine, then home it or unlock it ($X)",
                    MachineState.ERROR,
                    firmware_error=self._alarm,
                )
            self._alarm = None
        self._push()
        logger.info("%s connected (%s)", self, status.state)

    def _open(self) -> None:
        try:
            self._serial = serial.Serial(self._port, self._baudrate, timeout=0.1, write_timeout=10)
        except (serial.SerialException, OSError) as exc:
            raise errors.MachineUnreachable(f"cannot open {self._port} for {self}: {exc}") from None
        self._lost = None
        with self._cond:
            self._inflight.clear()
            self._inflight_bytes = 0
        self._reader = threading.Thread(target=self._read_loop, name=f"grbl-read-{self._port}", daemon=True)
        self._reader.start()

    def disconnect(self) -> None:
        self._abort_job("disconnected")
        self._close_transport()
        self._push()

    def _close_transport(self) -> None:
        port, self._serial = self._serial, None
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError):
                pass
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(2)

    def unlock(self) -> None:
        """Clear an alarm lock with `$X`: only after a person has checked the machine."""
        self._command("$X")
        with self._cond:
            self._alarm = None
            self._failed = None

    # --- serial I/O -------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        port = self._serial
        if port is None:
            raise errors.MachineUnreachable(self._lost or f"{self} is not connected")
        try:
            with self._write_lock:
                port.write(data)
        except (serial.SerialException, OSError) as exc:
            self._connection_lost(exc)
            raise errors.MachineUnreachable(self._lost or str(exc)) from None

    def _read_loop(self) -> None:
        port = self._serial
        buffer = b""
        while port is not None and self._serial is port:
            try:
                chunk = port.read(port.in_waiting or 1)
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                if self._serial is port:
                    self._connection_lost(exc)
                return
            if not chunk:
                continue
            buffer += chunk
            while b"\n" in buffer:
                raw, buffer = buffer.split(b"\n", 1)
                text = raw.decode("ascii", "replace").strip()
                if text:
                    self._handle(text)

    def _handle(self, text: str) -> None:
        reply = parse_response(text)
        push = False
        with self._cond:
            if reply.kind in ("ok", "error"):
                if self._inflight:
                    size, is_job = self._inflight.popleft()
                    self._inflight_bytes -= size
                    self._ack_seq += 1
                    job = self._job
                    if is_job and job is not None:
                        job.acked += 1
                        job.last_ack_seq = self._ack_seq
                        if reply.kind == "error" and job.error is None and not job.cancelled:
                            # Reported by the streamer once it has stopped the machine.
                            job.error = f"program line {job.acked}: {reply.message}"
                    elif not is_job:
                        self._replies.append(None if reply.kind == "ok" else reply.message)
                else:
                    logger.debug("%s: unexpected %s", self, text)
            elif reply.kind == "status" and reply.status is not None:
                self._status = reply.status
                self._status_seq += 1
                self._status_ack = self._ack_seq
            elif reply.kind == "alarm":
                self._alarm = reply.message
                job = self._job
                if job is not None and not job.done and not job.cancelled and job.error is None:
                    job.error = reply.message
                push = True
            elif reply.kind == "welcome":
                # GRBL restarted: whatever was in its buffer is gone.
                self._inflight.clear()
                self._inflight_bytes = 0
                job = self._job
                if job is not None and not job.done and not job.cancelled and job.error is None:
                    job.error = "GRBL reset in the middle of the job"
                    push = True
            elif reply.kind == "message":
                logger.info("%s: %s", self, reply.text)
            self._cond.notify_all()
        if push:
            self._push()

    def _connection_lost(self, exc: BaseException) -> None:
        with self._cond:
            if self._lost is None:
                self._lost = f"lost the serial connection to {self}: {exc or type(exc).__name__}"
                logger.warning("%s", self._lost)
            job = self._job
            if job is not None and not job.done and job.error is None and not job.cancelled:
                job.error = self._lost
                self._failed = f"{self._lost}; the job stopped at line {job.acked} of {job.total}"
            self._serial = None
            self._cond.notify_all()
        self._push()

    def _query_status(self, timeout: float) -> GrblStatus:
        with self._cond:
            seen = self._status_seq
        self._write(STATUS_QUERY)
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._status_seq == seen:
                left = deadline - time.monotonic()
                if left <= 0 or self._lost:
                    raise errors.MachineUnreachable(
                        self._lost or f"{self} does not answer status queries; is it GRBL, at {self._baudrate} baud?"
                    )
                self._cond.wait(min(left, 0.1))
            assert self._status is not None
            return self._status

    # --- status -----------------------------------------------------------------------

    def _read_status(self) -> JobProgress:
        if self._serial is None:
            if self._lost:
                raise errors.MachineUnreachable(self._lost)
            return JobProgress(MachineState.DISCONNECTED)
        status = self._query_status(self._status_timeout_s)
        return self._snapshot(status)

    def _snapshot(self, status: GrblStatus | None) -> JobProgress:
        with self._cond:
            job = self._job
            # Done only on an Idle report sent after the last line was answered: an older
            # report may predate moves still in GRBL's planner.
            if (
                job is not None
                and job.streamed_all
                and not job.done
                and job.error is None
                and status is not None
                and status is self._status
                and status.state == "Idle"
                and job.acked >= job.sent
                and self._status_ack >= job.last_ack_seq
            ):
                job.done = True
            error = self._failed or (job.error if job is not None else None)
            if status is None:
                state = MachineState.DISCONNECTED if self._serial is None else MachineState.CONNECTING
            elif self._failed or (job is not None and job.error):
                state = MachineState.ERROR
            elif status.state == "Alarm":
                state = MachineState.ERROR
                error = self._alarm or "GRBL is in alarm"
            elif job is not None and not job.done:
                state = status.machine_state
                if state is MachineState.IDLE:
                    state = MachineState.FINISHING if job.streamed_all else MachineState.PRINTING
                elif state is MachineState.PRINTING and job.streamed_all:
                    state = MachineState.FINISHING
            else:
                state = status.machine_state
            if job is None:
                return JobProgress(state, error=error)
            completion = 100.0 if job.done else (100.0 * job.acked / job.total if job.total else 0.0)
            return JobProgress(
                state=state,
                completion=completion,
                print_time_s=time.monotonic() - job.started_at,
                file_name=job.name,
                error=error,
            )

    def _push(self) -> None:
        """Hand the monitor a snapshot now (alarm, error, lost line, job end), no query."""
        at = time.monotonic()
        if self._serial is None and self._lost and not self._failed:
            snapshot = JobProgress(MachineState.UNREACHABLE, error=self._lost)
        elif self._serial is None and self._failed:
            snapshot = self._snapshot(GrblStatus("Idle"))
        else:
            snapshot = self._snapshot(self._status)
        self._monitor.observe(snapshot, at)

    # --- jobs -------------------------------------------------------------------------

    def upload(self, path: Path, remote_name: str) -> str:
        """GRBL stores nothing: remember the local file under `remote_name` for `start()`."""
        path = Path(path)
        if not path.is_file():
            raise errors.UploadRejected(f"cannot use {path}: no such file")
        if not remote_name.lower().endswith(EXTENSIONS):
            raise errors.UploadRejected(f"{self} takes G-code files ({', '.join(EXTENSIONS)}), not {remote_name!r}")
        self._stored[remote_name] = path
        return remote_name

    def start(self, remote_name: str) -> None:
        path = self._stored.get(remote_name)
        if path is None:
            raise errors.MachineStateError(f"{self} has no file {remote_name!r}; upload it first")
        self.require_idle()
        total = _count_lines(path)
        job = _Job(remote_name, path, total)
        with self._cond:
            self._job = job
            self._failed = None
        self._job_started(time.monotonic())
        self._streamer = threading.Thread(
            target=self._stream, args=(job,), name=f"grbl-stream-{self._port}", daemon=True
        )
        self._streamer.start()
        logger.info("%s: streaming %s (%d lines)", self, remote_name, total)
        self._push()

    def _stream(self, job: _Job) -> None:
        try:
            with job.path.open("r", encoding="ascii", errors="replace") as program:
                for raw in program:
                    line = clean_line(raw)
                    if not line:
                        continue
                    data = (line + "\n").encode("ascii", "replace")
                    with self._cond:
                        if len(data) > self._rx_limit:
                            job.error = f"program line {job.sent + 1} is longer than GRBL's buffer"
                            break
                        while (
                            self._inflight_bytes + len(data) > self._rx_limit
                            and job.error is None
                            and not job.cancelled
                            and self._serial
                        ):
                            self._cond.wait(0.5)
                        if job.error is not None or job.cancelled or self._serial is None:
                            break
                        self._inflight.append((len(data), True))
                        self._inflight_bytes += len(data)
                        job.sent += 1
                    self._write(data)
                else:
                    with self._cond:
                        job.streamed_all = True
        except errors.MachineUnreachable:
            pass
        except OSError as exc:
            with self._cond:
                job.error = f"cannot read the program {job.path}: {exc}"
        if job.error is not None and not job.cancelled and self._serial is not None:
            self._halt()  # GRBL said the program is wrong: stop the machine, keep position
        self._follow(job)

    def _follow(self, job: _Job) -> None:
        """After the last line: poll until GRBL is idle, then report the job's end."""
        while True:
            with self._cond:
                if job.done or job.error or job.cancelled or self._serial is None or self._job is not job:
                    break
            try:
                self._snapshot(self._query_status(self._status_timeout_s))
            except errors.MachineUnreachable:
                break
            time.sleep(0.05)
        self._push()

    def _halt(self) -> None:
        """Feed hold, wait for the hold to complete, then soft-reset: stops without losing
        position (a reset during motion would)."""
        try:
            self._write(FEED_HOLD)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                status = self._query_status(self._status_timeout_s)
                if status.state != "Run" and not (status.state == "Hold" and status.substate == 1):
                    break
                time.sleep(0.02)
            self._write(SOFT_RESET)
        except errors.MachineUnreachable:
            pass

    def _abort_job(self, reason: str) -> _Job | None:
        with self._cond:
            job = self._job
            if job is None or job.done or job.error:
                return None
            job.cancelled = True
            self._cond.notify_all()
        if self._streamer is not None and self._streamer is not threading.current_thread():
            self._streamer.join(5)
        return job

    def pause(self) -> None:
        self._require_job("pause")
        self._write(FEED_HOLD)
        logger.info("%s: feed hold", self)

    def resume(self) -> None:
        snapshot = self._require_job("resume")
        if snapshot.state not in (MachineState.PAUSED, MachineState.PAUSING):
            raise errors.MachineStateError(f"cannot resume: {self} is {snapshot.state}, not paused", snapshot.state)
        self._write(CYCLE_START)
        logger.info("%s: resume", self)

    def cancel(self) -> None:
        self._require_job("cancel")
        job = self._abort_job("cancelled")
        self._halt()
        with self._cond:
            if job is not None and self._job is job:
                self._job = None
        self._wait_idle()
        self._push()
        logger.info("%s: job cancelled", self)

    def _wait_idle(self) -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                if self._query_status(self._status_timeout_s).state in ("Idle", "Alarm"):
                    return
            except errors.MachineUnreachable:
                return
            time.sleep(0.02)

    def emergency_stop(self) -> None:
        """Soft reset (0x18) at once: GRBL stops all motion and the spindle or laser.

        During motion GRBL then enters ALARM:3 (position may be lost) and stays locked
        until a person homes or unlocks it.
        """
        with self._cond:
            job = self._job
            if job is not None and not job.done and job.error is None:
                job.error = "emergency stop"
                self._failed = "emergency stop"
            self._cond.notify_all()
        self._write(SOFT_RESET)
        logger.warning("%s: emergency stop (soft reset) sent", self)
        self._push()

    def send_commands(self, lines: list[str]) -> None:
        """Send lines one at a time, waiting for each answer; an `error:N` raises."""
        with self._cond:
            if self._job is not None and not self._job.done and not self._job.error:
                raise errors.MachineBusy(
                    f"{self} is streaming {self._job.name}; commands would mix into the program", MachineState.PRINTING
                )
        for line in lines:
            if "\n" in line or "\r" in line or not line.strip():
                raise ValueError(f"a command must be one non-empty line, not {line!r}")
            self._command(line.strip())

    def _command(self, line: str) -> None:
        data = (line + "\n").encode("ascii", "replace")
        with self._cond:
            while self._inflight_bytes + len(data) > self._rx_limit and self._serial:
                self._cond.wait(0.5)
            self._replies.clear()
            self._inflight.append((len(data), False))
            self._inflight_bytes += len(data)
        self._write(data)
        deadline = time.monotonic() + 10
        with self._cond:
            while not self._replies:
                if time.monotonic() > deadline or self._lost:
                    raise errors.MachineUnreachable(self._lost or f"{self} did not answer {line!r}")
                self._cond.wait(0.1)
            error = self._replies.popleft()
        if error is not None:
            raise errors.MachineResponseError(f"{self} refused {line!r}: {error}")

    def _require_job(self, what: str) -> JobProgress:
        snapshot = self.checked_status()
        with self._cond:
            active = self._job is not None and not self._job.done and self._job.error is None
        if not active:
            if snapshot.state is MachineState.IDLE:
                raise errors.MachineStateError(f"cannot {what}: {self} is idle", snapshot.state)
            raise self.not_ready_error(snapshot)
        return snapshot


def _count_lines(path: Path) -> int:
    """Program lines GRBL will receive (comments and blank lines are not sent)."""
    count = 0
    with path.open("r", encoding="ascii", errors="replace") as program:
        for raw in program:
            if clean_line(raw):
                count += 1
    return count
