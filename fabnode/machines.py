"""One worker per machine: a FIFO of accepted jobs, each sliced, sent to the machine through
firmware_bridge and watched until it ends. A machine runs one job at a time, so a worker is
a thread with a queue, and a slow machine never holds up the others.

Before anything is sent, the job's G-code passes the safety check for that machine
(firmware_bridge.gcode_check); FDM machines of one node take turns to start (heaters), and
laser jobs are made from the outline by fabnode.laser, CNC jobs arrive as G-code."""

from __future__ import annotations

import logging
import queue
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import designs
from cofab_wire import EventType, JobOffer
from fabnode.config import MachineConfig
from fabnode.events import EventEmitter
from fabnode.gcode_header import header_lines, prepend_header
from fabnode.journal import JobState, Journal
from fabnode.laser import LaserJobError, write_laser_gcode
from fabnode.slicer import SlicerError, profile_build_volume, slice_mesh
from firmware_bridge import JOB_STATES, JobProgress, MachineDriver, MachineError, MachineState
from firmware_bridge.gcode_check import (
    GcodeUnreadable,
    MachineProfile,
    ProfileError,
    check_file,
    load_profile,
    profile_from_dict,
)
from firmware_bridge.stagger import StartStagger

log = logging.getLogger(__name__)

_DIALECTS = {"octoprint": "marlin", "moonraker": "klipper", "grbl": "grbl"}


def safety_profile(config: MachineConfig, slicer_profile: Path | None = None) -> MachineProfile:
    """The machine's safety limits: its `safety_profile` TOML, else derived from its section.

    Derived limits: the dialect from the driver type, the declared build volume (widened
    to the slicer profile's own bed if that is larger, since the node slices with it; an
    explicit profile is exact), hotend 300 C and bed 120 C, the dialect's forbidden commands.
    """
    if config.safety_profile:
        return load_profile(config.safety_profile)
    volume = list(config.build_volume_mm)
    if config.process == "FDM" and slicer_profile is not None:
        try:
            volume = [max(a, b) for a, b in zip(volume, profile_build_volume(slicer_profile), strict=True)]
        except (SlicerError, OSError):
            pass
    raw = {
        "name": config.id,
        "dialect": _DIALECTS.get(str(config.driver.get("type")), "marlin"),
        "process": config.process,
        "work_volume": {"max_mm": volume},
    }
    if config.process == "FDM":
        raw["temperatures"] = {"hotend_max_c": 300, "bed_max_c": 120}
    return profile_from_dict(raw)


QUEUED_JOB_ESTIMATE_S = 1800.0
"""A queued job's time when nothing better is known (the hub's own estimate is per part)."""


@dataclass(frozen=True)
class RecoveredRun:
    """A job the journal says was starting or running on this machine when the agent stopped."""

    offer: JobOffer
    remote_name: str
    was_running: bool


@dataclass(frozen=True)
class AcceptedJob:
    offer: JobOffer
    mesh_path: Path
    analysis: designs.MeshAnalysis | None
    """None for laser outlines and CNC programs."""
    machine_id: str


class MachineWorker:
    def __init__(
        self,
        config: MachineConfig,
        driver: MachineDriver,
        emitter: EventEmitter,
        journal: Journal,
        *,
        work_dir: Path,
        profile: Path,
        poll_s: float,
        progress_step: float,
        on_change: Callable[[], None],
        stagger: StartStagger | None = None,
    ) -> None:
        """`stagger` is the node's start scheduler, shared by all its workers (the agent owns
        it). None: a scheduler of this worker's own, which never makes it wait, since a
        machine does not wait for itself."""
        self.config = config
        self.driver = driver
        self._emitter = emitter
        self._journal = journal
        self._work_dir = work_dir
        self._profile = profile
        self._poll_s = poll_s
        self._step = progress_step
        self._on_change = on_change
        self._jobs: queue.Queue[AcceptedJob | RecoveredRun | None] = queue.Queue()
        self._busy = threading.Event()
        self._cancelled: set[str] = set()
        self._current: str | None = None
        self._time_left_s = 0.0
        self._thread = threading.Thread(target=self._run, name=f"machine-{config.id}", daemon=True)
        self._connected = False
        self._safety = safety_profile(config, profile)
        self._stagger = stagger if stagger is not None else StartStagger(0)

    @property
    def queue_length(self) -> int:
        return self._jobs.qsize() + (1 if self._busy.is_set() else 0)

    @property
    def eta_free_s(self) -> float:
        """Rough time until the machine is free: what the running job has left, plus queued jobs."""
        running = self._time_left_s if self._busy.is_set() else 0.0
        return running + self._jobs.qsize() * QUEUED_JOB_ESTIMATE_S

    @property
    def state(self) -> str:
        if not self._connected:
            return MachineState.UNREACHABLE.value
        return self.driver.state.value

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=5)
        self.driver.close()

    def submit(self, job: AcceptedJob) -> None:
        self._jobs.put(job)
        self._emitter.progress(job.offer.job_id, "queued", machine_id=self.config.id)
        self._on_change()

    def recover(self, run: RecoveredRun) -> None:
        """Reconcile a job the machine may have on it, from what the machine itself reports."""
        self._jobs.put(run)

    def cancel(self, job_id: str) -> None:
        self._cancelled.add(job_id)
        if self._current == job_id:
            try:
                self.driver.cancel()
            except MachineError as exc:
                log.warning("cancel failed", extra={"job_id": job_id, "error": str(exc)})

    def _ensure_connected(self) -> None:
        if not self._connected:
            self.driver.connect(timeout=30)
            self._connected = True

    def connect_in_background(self) -> None:
        def attempt() -> None:
            try:
                self._ensure_connected()
                self._on_change()
            except MachineError as exc:
                log.warning("machine not reachable yet", extra={"machine_id": self.config.id, "error": str(exc)})

        threading.Thread(target=attempt, name=f"connect-{self.config.id}", daemon=True).start()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            self._busy.set()
            self._current = job.offer.job_id
            try:
                if isinstance(job, RecoveredRun):
                    self._reconcile(job)
                else:
                    self._process(job)
            except Exception as exc:  # the worker must survive any one job
                log.exception("job crashed", extra={"job_id": job.offer.job_id})
                self._finish(job.offer.job_id, EventType.FAILED, reason=f"node error: {exc}")
            finally:
                self._current = None
                self._busy.clear()
                self._on_change()

    def _process(self, job: AcceptedJob) -> None:
        job_id = job.offer.job_id
        if job_id in self._cancelled:
            self._finish(job_id, EventType.FAILED, reason="cancelled before it started")
            return
        job_dir = self._work_dir / "jobs" / job_id
        job_dir.mkdir(parents=True, exist_ok=True)
        gcode = job_dir / f"{job_id}.gcode"
        prepared = self._prepare(job, gcode)
        if prepared is None or not self._safe(job_id, gcode):
            return
        self._start_on_machine(job_id, gcode, slice_seconds=prepared)

    def _confirmed(self, job_id: str) -> bool:
        """Wait until the hub has recorded this node's acceptance, or the job is withdrawn."""
        started = next_note = time.monotonic()
        while not self._journal.acceptance_confirmed(job_id):
            if job_id in self._cancelled:
                return False
            if time.monotonic() >= next_note + 30:
                next_note = time.monotonic()
                log.info(
                    "waiting for the hub to confirm the acceptance before starting",
                    extra={"job_id": job_id, "waited_s": round(next_note - started)},
                )
            time.sleep(self._poll_s)
        return job_id not in self._cancelled

    def _start_on_machine(self, job_id: str, gcode: Path, *, slice_seconds: float) -> None:
        if not self._confirmed(job_id):
            self._finish(job_id, EventType.FAILED, reason="withdrawn before it started")
            return
        remote_name = f"{job_id}.gcode"
        self._journal.set_state(job_id, JobState.STARTING, machine_id=self.config.id, remote_name=remote_name)
        try:
            self._ensure_connected()
            if self.config.process == "FDM":
                waited = self._stagger.wait_turn(self.config.id)
                if waited:
                    log.info(
                        "staggered start",
                        extra={"job_id": job_id, "machine_id": self.config.id, "waited_s": round(waited, 1)},
                    )
            stored_as = self.driver.run_file(gcode, remote_name)
        except MachineError as exc:
            self._finish(job_id, EventType.FAILED, reason=f"machine {self.config.id}: {exc}")
            return
        self._journal.set_state(job_id, JobState.RUNNING, remote_name=stored_as)
        self._emitter.progress(job_id, "running", percent=0.0, machine_id=self.config.id)
        self._on_change()
        self._watch(job_id, stored_as, started=time.monotonic(), slice_seconds=slice_seconds)

    def _finish(self, job_id: str, type: EventType, **fields) -> None:
        self._journal.set_state(job_id, JobState.DONE)
        self._emitter.emit(job_id, type, **fields)

    def _reconcile(self, run: RecoveredRun) -> None:
        """Ask the machine, never assume: the job goes on being watched, is reported done or
        failed as the machine says, and is only started if it never reached the machine."""
        job_id = run.offer.job_id
        try:
            self._ensure_connected()
        except MachineError as exc:
            log.warning("machine unreachable while recovering; will retry", extra={"job_id": job_id, "error": str(exc)})
            time.sleep(self._poll_s * 4)
            self._jobs.put(run)
            return
        status = self.driver.status()
        ours = status.file_name is not None and status.file_name.endswith(run.remote_name)
        log.info(
            "reconciling job after restart",
            extra={
                "job_id": job_id,
                "machine_state": status.state.value,
                "machine_file": status.file_name,
                "ours": ours,
            },
        )
        if ours and (
            status.state in JOB_STATES or (status.completion or 0) >= 100 or status.state is MachineState.ERROR
        ):
            self._journal.set_state(job_id, JobState.RUNNING)
            self._watch(job_id, run.remote_name, started=time.monotonic(), slice_seconds=0.0)
            return
        if run.was_running:
            self._finish(
                job_id,
                EventType.FAILED,
                reason=f"interrupted: after the node restarted, machine "
                f"{self.config.id} no longer shows this job (it shows {status.file_name or 'no file'}, "
                f"{status.state.value}); not restarted, to avoid making it twice",
            )
            return
        gcode = self._work_dir / "jobs" / job_id / run.remote_name
        if not gcode.exists():
            self._finish(job_id, EventType.FAILED, reason="interrupted before the machine took it; G-code lost")
            return
        if self._safe(job_id, gcode):
            self._start_on_machine(job_id, gcode, slice_seconds=0.0)

    def _prepare(self, job: AcceptedJob, gcode: Path) -> float | None:
        """Write the job's G-code with the attribution header; return the seconds it took
        (slicing), or None after reporting why it could not be made."""
        job_id = job.offer.job_id
        started = time.monotonic()
        if self.config.process == "laser":
            self._emitter.progress(job_id, "slicing", machine_id=self.config.id)
            try:
                write_laser_gcode(
                    job.mesh_path, gcode, self._safety, job.offer.material, header=header_lines(job.offer)
                )
            except (LaserJobError, ProfileError, designs.DesignFileError) as exc:
                self._finish(job_id, EventType.FAILED, reason=f"laser job failed: {exc}")
                return None
            return time.monotonic() - started
        if self.config.process == "CNC":  # CAM is out of scope: the file is the program
            shutil.copyfile(job.mesh_path, gcode)
            prepend_header(gcode, header_lines(job.offer))
            return 0.0
        self._emitter.progress(job_id, "slicing", machine_id=self.config.id)
        try:
            result = slice_mesh(job.mesh_path, gcode, profile=self._profile, bed_center_mm=self.config.bed_center_mm)
        except SlicerError as exc:
            self._finish(job_id, EventType.FAILED, reason=f"slicing failed: {exc}")
            return None
        prepend_header(gcode, header_lines(job.offer))
        return result.seconds

    def _safe(self, job_id: str, gcode: Path) -> bool:
        """The safety check before anything is sent; a refused job fails with line and reason."""
        try:
            report = check_file(gcode, self._safety)
        except GcodeUnreadable as exc:
            self._finish(job_id, EventType.FAILED, reason=f"G-code cannot be read: {exc}")
            return False
        if report.safe:
            log.info(
                "G-code passed the safety check",
                extra={
                    "job_id": job_id,
                    "machine_id": self.config.id,
                    "estimate_s": round(report.time_s),
                    "filament_g": round(report.filament_g, 1),
                    "check_s": round(report.seconds, 3),
                },
            )
            return True
        first = report.violations[0]
        more = f" (and {report.violation_count - 1} more)" if report.violation_count > 1 else ""
        self._finish(
            job_id,
            EventType.FAILED,
            reason=(
                f"G-code refused by the safety check for {self.config.id}: line {first.line}: {first.reason}{more}"
            ),
        )
        return False

    def _watch(self, job_id: str, stored_as: str, *, started: float, slice_seconds: float) -> None:
        """Follow the job on the machine until it ends.

        An unreachable machine is not a failed job: the print may go on while the network or
        OctoPrint is down, so the worker keeps waiting rather than report a failure that
        could send the part to another lab and have it made twice.
        """
        seen_active = False
        reported = 0.0
        grace_until = time.monotonic() + 15
        unreachable_logged = False
        while True:
            time.sleep(self._poll_s)
            status = self.driver.status()
            if status.state is MachineState.UNREACHABLE:
                if not unreachable_logged:
                    log.warning(
                        "machine unreachable during a job; waiting for it",
                        extra={"job_id": job_id, "machine_id": self.config.id, "error": status.error},
                    )
                    unreachable_logged = True
                grace_until = max(grace_until, time.monotonic() + 15)
                continue
            unreachable_logged = False
            if status.state in JOB_STATES:
                seen_active = True
                self._time_left_s = status.print_time_left_s or 0.0
                pct = status.completion or 0.0
                if pct - reported >= self._step:
                    reported = pct
                    self._emitter.progress(job_id, "running", percent=round(min(pct, 100.0), 1))
                continue
            if self._ended(job_id, status, stored_as, seen_active=seen_active, started=started, slice_s=slice_seconds):
                return
            if not seen_active and time.monotonic() > grace_until:
                self._finish(
                    job_id,
                    EventType.FAILED,
                    reason=f"machine {self.config.id} never started the job (state {status.state.value})",
                )
                return

    def _ended(
        self, job_id: str, status: JobProgress, stored_as: str, *, seen_active: bool, started: float, slice_s: float
    ) -> bool:
        """Report the job's end if the machine, no longer running it, shows one: a firmware
        error, our file at 100 %, or idle after it ran. False: not ended (yet).

        A job the hub cancelled has ended once the machine no longer runs it, even if this
        worker never saw it running: a cancel that lands between the start and the first
        status poll would otherwise wait out the start grace and be reported as never
        started."""
        if job_id in self._cancelled and status.state not in JOB_STATES:
            self._finish(job_id, EventType.FAILED, reason="cancelled")
            return True
        if status.state is MachineState.ERROR:
            self._finish(
                job_id, EventType.FAILED, reason=f"machine {self.config.id}: {status.error or 'firmware error'}"
            )
            return True
        ours = status.file_name is None or status.file_name.endswith(stored_as)
        done = ours and status.completion is not None and status.completion >= 100.0
        if not (done or (seen_active and status.state is MachineState.IDLE)):
            return False
        if done and job_id not in self._cancelled:
            self._finish(
                job_id,
                EventType.COMPLETED,
                machine_id=self.config.id,
                detail={"print_seconds": round(time.monotonic() - started, 1), "slice_seconds": round(slice_s, 2)},
            )
        else:
            self._finish(
                job_id,
                EventType.FAILED,
                reason="cancelled"
                if job_id in self._cancelled
                else f"machine stopped at {status.completion or 0:.0f}%",
            )
        return True
