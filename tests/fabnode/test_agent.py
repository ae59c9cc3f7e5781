"""The node agent's decisions, driven through its driver seam: a real `NodeAgent` with its
journal, checks, downloads and MQTT session, whose machines are `MemoryMachine`s.

Offer → check → accept → run → complete; every way an offer is declined (the download checks,
the file checks, a node error) or a job fails on the node; and restarts from the journal."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from cofab.devstack.samples import box, open_box, stl_bytes
from cofab_wire import EventAck, EventType, JobEvent, JobOffer
from fabnode.journal import JobState, Journal
from tests.fabnode.conftest import MILL, Node
from tests.fabnode.support import CNC_PROGRAM, FileServer, HubSide, MemoryMachine, offer_for
from tests.mqtt_support import free_port, wait_until

SQUARE_SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="50mm" height="50mm"><rect width="50" height="50"/></svg>'
EMPTY_SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="50mm" height="50mm"></svg>'


def journal_state(node: Node, job_id: str) -> JobState:
    assert node.agent is not None
    entry = node.agent.journal.job(job_id)
    assert entry is not None
    return entry.state


def test_an_offer_is_checked_accepted_run_and_completed(node: Node, hub: HubSide, files: FileServer) -> None:
    machines = node.start()
    offer = offer_for(files, CNC_PROGRAM)
    hub.send(offer)
    done = hub.outcome(offer.job_id)
    assert done.type is EventType.COMPLETED, done
    assert done.machine_id == "mill"
    types = [e.type for e in hub.of(offer.job_id)]
    assert types.index(EventType.ACCEPTED) < types.index(EventType.COMPLETED)
    assert EventType.DECLINED not in types and EventType.FAILED not in types
    stages = hub.stages(offer.job_id)
    assert stages[:2] == ["fetching", "checking"]
    assert stages.index("queued") < stages.index("running")
    assert [e.seq for e in hub.of(offer.job_id)] == list(range(1, len(types) + 1))
    # Made once, on the mill, with the attribution header before the program.
    remote = f"{offer.job_id}.gcode"
    assert machines["mill"].started == [remote]
    assert machines["printer"].started == [] and machines["laser"].started == []
    sent = machines["mill"].files[remote]
    assert sent.startswith(f"; cofab job {offer.job_id}".encode()) and sent.endswith(CNC_PROGRAM)
    assert journal_state(node, offer.job_id) is JobState.DONE


def test_a_laser_outline_is_made_into_a_program_and_cut(node: Node, hub: HubSide, files: FileServer) -> None:
    machines = node.start()
    offer = offer_for(files, SQUARE_SVG, process="laser", material="plywood-3mm")
    hub.send(offer)
    assert hub.outcome(offer.job_id).type is EventType.COMPLETED
    assert machines["laser"].started == [f"{offer.job_id}.gcode"]


def test_a_held_offer_waits_for_a_person_then_runs(node: Node, hub: HubSide, files: FileServer) -> None:
    machines = node.start(auto_accept=False)
    offer = offer_for(files, CNC_PROGRAM)
    hub.send(offer)
    held = hub.wait_for(offer.job_id, EventType.PROGRESS, stage="awaiting_acceptance")
    assert held.machine_id == "mill"
    assert journal_state(node, offer.job_id) is JobState.AWAITING
    assert EventType.ACCEPTED not in [e.type for e in hub.of(offer.job_id)]
    assert machines["mill"].started == []
    hub.command(offer.job_id, "accept")
    assert hub.outcome(offer.job_id).type is EventType.COMPLETED
    assert machines["mill"].started == [f"{offer.job_id}.gcode"]


def test_a_repeated_offer_is_made_once(node: Node, hub: HubSide, files: FileServer) -> None:
    machines = node.start()
    offer = offer_for(files, CNC_PROGRAM)
    hub.send(offer)
    assert hub.outcome(offer.job_id).type is EventType.COMPLETED
    hub.send(offer)  # the broker re-delivers, or the hub re-sends after a restart
    hub.send(offer_for(files, CNC_PROGRAM))  # another job, to know the repeat was handled
    wait_until(lambda: len(machines["mill"].started) == 2, what="the second job")
    assert machines["mill"].started.count(f"{offer.job_id}.gcode") == 1
    assert [e.type for e in hub.of(offer.job_id)].count(EventType.ACCEPTED) == 1


# Declines: the download checks ------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("refused", "hub refused the download (410): the link expired"),
        ("wrong token", "hub refused the download (403): download token is not valid"),
        ("sha256 mismatch", "sha256 mismatch: got "),
        ("oversize", f"file is larger than the {len(CNC_PROGRAM)} bytes the offer announced"),
    ],
)
def test_the_download_checks_decline_with_the_reason(
    node: Node, hub: HubSide, files: FileServer, case: str, reason: str
) -> None:
    machines = node.start()
    tampered = CNC_PROGRAM.replace(b"X50", b"X90")  # same length, other bytes
    offer = {
        "refused": lambda: offer_for(files, CNC_PROGRAM, status=410, served=b'{"detail": "the link expired"}'),
        "wrong token": lambda: offer_for(files, CNC_PROGRAM, token="not-the-token"),
        "sha256 mismatch": lambda: offer_for(files, CNC_PROGRAM, served=tampered),
        "oversize": lambda: offer_for(files, CNC_PROGRAM, served=CNC_PROGRAM + b"G0 X0 Y0\n" * 100),
    }[case]()
    hub.send(offer)
    declined = hub.outcome(offer.job_id)
    assert declined.type is EventType.DECLINED
    assert declined.reason is not None and declined.reason.startswith(reason), declined.reason
    if case == "sha256 mismatch":
        assert hashlib.sha256(tampered).hexdigest() in declined.reason
    # Nothing of a rejected download is kept, and nothing reached a machine.
    assert list((node.work_dir / "files").iterdir()) == []
    assert all(m.started == [] for m in machines.values())
    assert journal_state(node, offer.job_id) is JobState.DECLINED


def test_an_unreachable_file_server_declines(node: Node, hub: HubSide, files: FileServer) -> None:
    node.start()
    offer = offer_for(files, CNC_PROGRAM).model_copy(update={"download_url": f"http://127.0.0.1:{free_port()}/f"})
    hub.send(offer)
    declined = hub.outcome(offer.job_id)
    assert declined.type is EventType.DECLINED
    assert declined.reason is not None and declined.reason.startswith("could not download the design file")


def test_a_file_already_downloaded_is_not_fetched_again(node: Node, hub: HubSide, files: FileServer) -> None:
    node.start()
    first, second = offer_for(files, CNC_PROGRAM), offer_for(files, CNC_PROGRAM)
    hub.send(first)
    assert hub.outcome(first.job_id).type is EventType.COMPLETED
    hub.send(second)
    assert hub.outcome(second.job_id).type is EventType.COMPLETED
    assert files.requests == [f"/files/{first.job_id}.gcode"]


# Declines: the node's checks of the file against its machines -----------------------------


@pytest.mark.parametrize(
    ("data", "process", "material", "reason"),
    [
        (b"solid nothing\nthis is not a mesh", "FDM", "PLA", "file cannot be loaded: "),
        (stl_bytes(open_box(20)), "FDM", "PLA", "mesh is not watertight"),
        (EMPTY_SVG, "laser", "plywood-3mm", "file cannot be loaded: the SVG file holds no visible paths"),
        (
            stl_bytes(box((20, 20, 20))),
            "SLA",
            "resin",
            "mill does CNC, not SLA; laser does laser, not SLA; printer does FDM, not SLA",
        ),
        (CNC_PROGRAM, "CNC", "aluminium", "mill has no aluminium loaded"),
        (
            stl_bytes(box((250, 240, 60))),
            "FDM",
            "PLA",
            "mill does CNC, not FDM; laser does laser, not FDM; printer: part 250.0 x 240.0 x 60.0 mm does not fit",
        ),
    ],
    ids=["unloadable", "not-watertight", "empty-outline", "no-such-process", "no-such-material", "too-large"],
)
def test_the_file_checks_decline_with_the_reason(
    node: Node, hub: HubSide, files: FileServer, data: bytes, process: str, material: str, reason: str
) -> None:
    machines = node.start()
    offer = offer_for(files, data, process=process, material=material)
    hub.send(offer)
    declined = hub.outcome(offer.job_id)
    assert declined.type is EventType.DECLINED
    assert declined.reason is not None and declined.reason.startswith(reason), declined.reason
    assert hub.stages(offer.job_id) == ["fetching", "checking"]
    assert all(m.started == [] for m in machines.values())


def test_a_node_error_while_checking_declines_instead_of_crashing(node: Node, hub: HubSide, files: FileServer) -> None:
    node.work_dir.mkdir(parents=True)
    (node.work_dir / "files").write_text("a file where the download directory should be")
    node.start()
    offer = offer_for(files, CNC_PROGRAM)
    hub.send(offer)
    declined = hub.outcome(offer.job_id)
    assert declined.type is EventType.DECLINED
    assert declined.reason is not None and declined.reason.startswith("node error while checking: ")
    # The agent goes on: once the directory is back, the next offer is made.
    (node.work_dir / "files").unlink()
    again = offer_for(files, CNC_PROGRAM)
    hub.send(again)
    assert hub.outcome(again.job_id).type is EventType.COMPLETED


@pytest.mark.parametrize("how", ["decline", "cancel", "withdrawn ack"])
def test_a_held_offer_the_hub_withdraws_is_dropped(node: Node, hub: HubSide, files: FileServer, how: str) -> None:
    machines = node.start(auto_accept=False)
    offer = offer_for(files, CNC_PROGRAM)
    hub.send(offer)
    held = hub.wait_for(offer.job_id, EventType.PROGRESS, stage="awaiting_acceptance")
    if how == "withdrawn ack":
        hub.send(EventAck(job_id=offer.job_id, seq=held.seq, withdrawn=True))
    else:
        hub.command(offer.job_id, how, reason="given to another lab")
    wait_until(lambda: journal_state(node, offer.job_id) is JobState.DONE, what="the held offer dropped")
    hub.command(offer.job_id, "accept")  # too late: the node no longer holds it
    marker = offer_for(files, CNC_PROGRAM)  # a later job, to know the late accept was handled
    hub.send(marker)
    hub.wait_for(marker.job_id, EventType.PROGRESS, stage="awaiting_acceptance")
    hub.command(marker.job_id, "accept")
    assert hub.outcome(marker.job_id).type is EventType.COMPLETED
    assert machines["mill"].started == [f"{marker.job_id}.gcode"]
    assert {e.type for e in hub.of(offer.job_id)} == {EventType.PROGRESS}


# Failures on the machine's side -----------------------------------------------------------


def test_a_program_outside_the_work_volume_is_refused_before_it_is_sent(
    node: Node, hub: HubSide, files: FileServer
) -> None:
    machines = node.start()
    offer = offer_for(files, CNC_PROGRAM.replace(b"X50", b"X900"))
    hub.send(offer)
    failed = hub.outcome(offer.job_id)
    assert failed.type is EventType.FAILED
    assert failed.reason is not None
    assert failed.reason.startswith("G-code refused by the safety check for mill: line "), failed.reason
    assert "outside the work volume" in failed.reason
    assert machines["mill"].files == {}


def test_a_machine_that_refuses_the_job_fails_it_with_its_words(node: Node, hub: HubSide, files: FileServer) -> None:
    machines = node.start()
    machines["mill"].refuse_start = "spindle interlock open"
    offer = offer_for(files, CNC_PROGRAM)
    hub.send(offer)
    failed = hub.outcome(offer.job_id)
    assert failed.type is EventType.FAILED and failed.reason == "machine mill: spindle interlock open"


def test_a_running_job_the_hub_cancels_stops_the_machine(node: Node, hub: HubSide, files: FileServer) -> None:
    machines = node.start()
    machines["mill"].stalled = True
    offer = offer_for(files, CNC_PROGRAM)
    hub.send(offer)
    hub.wait_for(offer.job_id, EventType.PROGRESS, stage="running")
    hub.command(offer.job_id, "cancel", reason="the maker cancelled")
    failed = hub.outcome(offer.job_id)
    assert failed.type is EventType.FAILED and failed.reason == "cancelled"
    assert machines["mill"].status().completion is None


def test_a_job_starts_only_once_the_hub_confirmed_the_acceptance(node: Node, hub: HubSide, files: FileServer) -> None:
    """The hub may have given the job to another node while this one was cut off: without an
    acknowledged `accepted` event, the machine is not started, and a withdrawal ends it."""
    machines = node.start()
    hub.acknowledging = False
    offer = offer_for(files, CNC_PROGRAM)
    hub.send(offer)
    hub.wait_for(offer.job_id, EventType.PROGRESS, stage="queued")
    assert machines["mill"].started == []
    hub.command(offer.job_id, "cancel", reason="given to another lab")
    failed = hub.outcome(offer.job_id)
    assert failed.type is EventType.FAILED and failed.reason == "withdrawn before it started"
    assert machines["mill"].started == []


# Restarts from the journal ----------------------------------------------------------------


def crashed_journal(work_dir: Path, offer: JobOffer, state: JobState, *, confirmed_accept: bool = False) -> None:
    """The journal as an agent that died with `offer` in `state` on the mill leaves it."""
    journal = Journal(work_dir / "journal.db")
    journal.remember_offer(offer.job_id, offer.model_dump_json())
    accept_seq = None
    if confirmed_accept:

        def accepted(seq: int) -> bytes:
            event = JobEvent(job_id=offer.job_id, node_id="lab-unit", seq=seq, type=EventType.ACCEPTED)
            return event.to_bytes()

        journal.append_event(offer.job_id, accepted)
        accept_seq = 1
        journal.ack(offer.job_id, accept_seq)
    remote = f"{offer.job_id}.gcode" if state in (JobState.STARTING, JobState.RUNNING) else None
    journal.set_state(offer.job_id, state, machine_id=MILL.id, remote_name=remote, accept_seq=accept_seq)
    journal.close()


def test_a_held_offer_is_held_again_after_a_restart(node: Node, hub: HubSide, files: FileServer) -> None:
    node.start(auto_accept=False)
    offer = offer_for(files, CNC_PROGRAM)
    hub.send(offer)
    hub.wait_for(offer.job_id, EventType.PROGRESS, stage="awaiting_acceptance")
    node.stop()
    machines = node.start(auto_accept=False)
    wait_until(lambda: hub.stages(offer.job_id).count("awaiting_acceptance") == 2, what="the offer held again")
    hub.command(offer.job_id, "accept")
    assert hub.outcome(offer.job_id).type is EventType.COMPLETED
    assert machines["mill"].started == [f"{offer.job_id}.gcode"]
    assert files.requests == [f"/files/{offer.job_id}.gcode"]  # checked again from the kept file


def test_an_accepted_job_is_queued_after_a_restart_without_accepting_again(
    node: Node, hub: HubSide, files: FileServer
) -> None:
    offer = offer_for(files, CNC_PROGRAM)
    crashed_journal(node.work_dir, offer, JobState.ACCEPTED, confirmed_accept=True)
    machines = node.start()
    assert hub.outcome(offer.job_id).type is EventType.COMPLETED
    assert EventType.ACCEPTED not in [e.type for e in hub.of(offer.job_id)]
    assert machines["mill"].started == [f"{offer.job_id}.gcode"]


def test_a_job_still_running_after_a_restart_is_watched_to_its_end(node: Node, hub: HubSide, files: FileServer) -> None:
    offer = offer_for(files, CNC_PROGRAM)
    crashed_journal(node.work_dir, offer, JobState.RUNNING, confirmed_accept=True)
    mill = MemoryMachine(running=f"{offer.job_id}.gcode", completion=50.0)
    machines = node.start({"mill": mill, "laser": MemoryMachine(), "printer": MemoryMachine()})
    done = hub.outcome(offer.job_id)
    assert done.type is EventType.COMPLETED
    assert machines["mill"].started == []  # not started a second time
    assert files.requests == []


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        # The mill is idle: someone cleared it while the node was down.
        (JobState.RUNNING, "interrupted: after the node restarted, machine mill no longer shows this job"),
        (JobState.STARTING, "interrupted before the machine took it; G-code lost"),
    ],
    ids=["machine-no-longer-shows-it", "program-lost-before-start"],
)
def test_a_job_a_restart_cannot_vouch_for_fails_and_is_not_made_twice(
    node: Node, hub: HubSide, files: FileServer, state: JobState, reason: str
) -> None:
    offer = offer_for(files, CNC_PROGRAM)
    crashed_journal(node.work_dir, offer, state, confirmed_accept=True)
    machines = node.start()
    failed = hub.outcome(offer.job_id)
    assert failed.type is EventType.FAILED
    assert failed.reason is not None and failed.reason.startswith(reason), failed.reason
    assert machines["mill"].started == []
