"""Laser jobs from real SVG/DXF cut files: material settings, kerf, order, header, and the
safety check passing the result."""

from __future__ import annotations

from pathlib import Path

import pytest

from fabnode.laser import LaserJobError, write_laser_gcode
from firmware_bridge.gcode_check import check_file, load_profile
from tests.corpus import CORPUS

ROOT = Path(__file__).resolve().parents[2]
LASER = load_profile(ROOT / "examples" / "machines" / "grbl-laser.toml")

SQUARE_WITH_HOLE = """<svg xmlns="http://www.w3.org/2000/svg" width="60mm" height="60mm" viewBox="0 0 60 60">
  <rect x="0" y="0" width="60" height="60" fill="none" stroke="black"/>
  <circle cx="30" cy="30" r="10" fill="none" stroke="black"/>
</svg>
"""


def moves_between(lines: list[str], start: int) -> list[tuple[float, float]]:
    points = []
    for line in lines[start:]:
        if line == "M5":
            break
        if line.startswith("G1"):
            words = {w[0]: float(w[1:]) for w in line.split()[1:]}
            points.append((words["X"], words["Y"]))
    return points


def test_square_with_a_hole_cuts_the_hole_first_with_kerf_and_material(tmp_path: Path) -> None:
    svg = tmp_path / "plate.svg"
    svg.write_text(SQUARE_WITH_HOLE)
    out = tmp_path / "plate.gcode"
    job = write_laser_gcode(svg, out, LASER, "plywood-3mm", header=["; cofab job j-1", "; licence: CERN-OHL-S-2.0"])
    lines = out.read_text().splitlines()
    assert lines[:2] == ["; cofab job j-1", "; licence: CERN-OHL-S-2.0"]
    assert (job.power_s, job.feed_mm_min, job.passes, job.contours) == (850.0, 400.0, 2, 2)
    starts = [i for i, line in enumerate(lines) if line.startswith("M4 ")]
    assert len(starts) == 2 and all(lines[i] == "M4 S850" for i in starts)
    assert all(lines[i - 1].startswith("G0 ") for i in starts), "travel with the laser off"
    hole, outer = moves_between(lines, starts[0]), moves_between(lines, starts[1])
    xs_hole = [x for x, _ in hole]
    xs_outer = [x for x, _ in outer]
    # The hole (r=10) comes first, shrunk by half the 0.15 mm kerf; the outer square grows.
    assert max(xs_hole) - min(xs_hole) == pytest.approx(20 - 0.15, abs=0.05)
    assert max(xs_outer) - min(xs_outer) == pytest.approx(60 + 0.15, abs=0.01)
    assert lines[-2:] == ["G0 X0 Y0", "M2"]
    # Two passes: each contour's moves appear twice before its M5.
    assert len(hole) % 2 == 0
    report = check_file(out, LASER)
    assert report.safe, report.violations
    assert report.max_s == 850.0


def test_acrylic_uses_constant_power_m3(tmp_path: Path) -> None:
    svg = tmp_path / "plate.svg"
    svg.write_text(SQUARE_WITH_HOLE)
    job = write_laser_gcode(svg, tmp_path / "a.gcode", LASER, "Acrylic-3mm")
    text = (tmp_path / "a.gcode").read_text()
    assert "M3 S900" in text and "M4" not in text
    assert job.passes == 1


def test_the_finger_joint_box_from_the_corpus_becomes_safe_laser_gcode(tmp_path: Path) -> None:
    svg = CORPUS / "svg" / "boxes_ABox.svg"
    if not svg.exists():
        pytest.skip("shared corpus not present")
    out = tmp_path / "box.gcode"
    job = write_laser_gcode(svg, out, LASER, "cardboard")
    assert job.contours > 6
    assert job.cut_length_mm > 1000
    report = check_file(out, LASER)
    assert report.safe, report.violations[:3]
    assert report.bounds_max_mm[0] <= 400 and report.bounds_max_mm[1] <= 300


def test_a_panel_larger_than_the_bed_is_refused_with_sizes(tmp_path: Path) -> None:
    dxf = CORPUS / "dxf" / "voron2_250_Deck_Panel.dxf"
    if not dxf.exists():
        pytest.skip("shared corpus not present")
    with pytest.raises(LaserJobError, match=r"369\.\d x 369\.\d mm; .* cuts at most 390\.0 x 290\.0"):
        write_laser_gcode(dxf, tmp_path / "panel.gcode", LASER, "plywood-3mm")


def test_an_unknown_material_names_the_known_ones(tmp_path: Path) -> None:
    svg = tmp_path / "plate.svg"
    svg.write_text(SQUARE_WITH_HOLE)
    with pytest.raises(ValueError, match="no material 'steel'.*plywood-3mm"):
        write_laser_gcode(svg, tmp_path / "x.gcode", LASER, "steel")


# --- the node's machine worker: laser and CNC jobs, the safety check ---

import threading  # noqa: E402
import time  # noqa: E402

from cofab.devstack.grbl_emulator import GrblEmulator  # noqa: E402
from cofab_wire import EventType, JobEvent, JobOffer  # noqa: E402
from fabnode.config import MachineConfig  # noqa: E402
from fabnode.events import EventEmitter  # noqa: E402
from fabnode.journal import JobState, Journal  # noqa: E402
from fabnode.machines import AcceptedJob, MachineWorker  # noqa: E402
from firmware_bridge import create_driver  # noqa: E402


class Events:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[JobEvent] = []

    def publish(self, payload: bytes) -> None:
        with self.lock:
            self.items.append(JobEvent.model_validate_json(payload))

    def wait_end(self, timeout: float = 30) -> JobEvent:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for event in self.items:
                    if event.type in (EventType.COMPLETED, EventType.FAILED):
                        return event
            time.sleep(0.05)
        pytest.fail(f"no completed/failed event within {timeout} s: {self.items}")


def offer(job_id: str, material: str, process: str, file_name: str) -> JobOffer:
    return JobOffer(
        job_id=job_id,
        order_id="o-1",
        design_id="d-1",
        design_title="Plate",
        licence="CERN-OHL-S-2.0",
        authors=["Ada"],
        file_name=file_name,
        file_sha256="0" * 64,
        file_size=1,
        download_url="http://x/f",
        download_token="t",
        token_expires_at=0,
        material=material,
        process=process,
        bbox_mm=(60, 60, 0),
    )


def worker_for(tmp_path: Path, port: str, process: str, profile: str) -> tuple[MachineWorker, Events]:
    config = MachineConfig(
        id=f"{process.lower()}-1",
        process=process,
        build_volume_mm=(400, 300, 40),
        materials=["plywood-3mm"],
        driver={"type": "grbl", "port": port},
        safety_profile=str(ROOT / "examples" / "machines" / profile),
    )
    events = Events()
    journal = Journal(tmp_path / "node" / "journal.db")
    worker = MachineWorker(
        config,
        create_driver(config.driver),
        EventEmitter("lab", journal, events.publish),
        journal,
        work_dir=tmp_path / "node",
        profile=Path("unused.ini"),
        poll_s=0.05,
        progress_step=10,
        on_change=lambda: None,
    )
    return worker, events


def confirm_acceptance(worker: MachineWorker, job_id: str) -> None:
    """What the agent and the hub do before a worker may start a job: the node's acceptance is
    journaled and the hub has acknowledged it."""
    journal = worker._journal
    journal.remember_offer(job_id, "{}")
    _, _ = journal.append_event(job_id, lambda seq: b"accepted")
    journal.set_state(job_id, JobState.ACCEPTED, accept_seq=1)
    journal.ack(job_id, 1)


def run_to_end(tmp_path: Path, port: str, profile: str, job: JobOffer, source: Path) -> JobEvent:
    """Run `job` on a worker for the machine at `port`, from the node's acceptance to its
    last event; the worker is stopped whatever happens."""
    worker, events = worker_for(tmp_path, port, job.process, profile)
    worker.start()
    try:
        confirm_acceptance(worker, job.job_id)
        worker.submit(AcceptedJob(job, source, None, f"{job.process.lower()}-1"))
        return events.wait_end()
    finally:
        worker.stop()


def test_a_laser_job_goes_from_svg_to_the_machine_with_header_and_check(tmp_path: Path) -> None:
    svg = tmp_path / "plate.svg"
    svg.write_text(SQUARE_WITH_HOLE)
    with GrblEmulator(time_scale=0.001) as emulator:
        job = offer("job-l1", "plywood-3mm", "laser", "plate.svg")
        end = run_to_end(tmp_path, emulator.port, "grbl-laser.toml", job, svg)
    assert end.type is EventType.COMPLETED, end.reason
    assert b"M4S850" in emulator.lines_executed
    gcode = (tmp_path / "node" / "jobs" / "job-l1" / "job-l1.gcode").read_text().splitlines()
    assert gcode[0].startswith("; cofab job job-l1")
    assert any(line.startswith("; licence: CERN-OHL-S-2.0") for line in gcode[:6])


def test_an_unsafe_cnc_program_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    program = tmp_path / "pocket.nc"
    program.write_text("G21 G90\nM3 S12000\nG0 Z5\nG1 Z-35 F100\nM5\n")
    with GrblEmulator() as emulator:
        job = offer("job-c1", "plywood-3mm", "CNC", "pocket.nc")
        end = run_to_end(tmp_path, emulator.port, "grbl-cnc.toml", job, program)
        assert emulator.lines_executed == []
    assert end.type is EventType.FAILED
    assert end.reason is not None
    # The header (5 comment lines) comes first, so the program's line 4 is line 9 of the file.
    assert "safety check for cnc-1: line 9: Z -35.000 mm is outside the work volume" in end.reason
