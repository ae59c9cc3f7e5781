"""The node's journal survives a restart: offers are remembered, sequence numbers continue,
unacknowledged events are listed for re-sending, unfinished jobs are found again."""

from __future__ import annotations

from fabnode.journal import JobState, Journal


def test_offers_are_remembered_across_a_restart(tmp_path):
    journal = Journal(tmp_path / "j.db")
    assert journal.remember_offer("j1", '{"job_id": "j1"}')
    assert not journal.remember_offer("j1", '{"job_id": "j1"}')
    journal.close()
    again = Journal(tmp_path / "j.db")
    assert not again.remember_offer("j1", '{"job_id": "j1"}')
    assert again.job("j1").state is JobState.RECEIVED


def test_sequence_numbers_continue_after_a_restart_and_unacked_events_are_kept(tmp_path):
    journal = Journal(tmp_path / "j.db")
    journal.remember_offer("j1", "{}")
    first, _ = journal.append_event("j1", lambda seq: f"event {seq}".encode())
    second, _ = journal.append_event("j1", lambda seq: f"event {seq}".encode())
    assert journal.ack("j1", 1) == 1  # the hub recorded seq 1
    journal.close()
    again = Journal(tmp_path / "j.db")
    assert [payload for _, payload in again.unacked()] == [b"event 2"]
    _, payload = again.append_event("j1", lambda seq: f"event {seq}".encode())
    assert payload == b"event 3"
    assert again.ack("j1", 3) == 2 and again.unacked() == []
    assert second != first


def test_only_events_not_sent_recently_are_due_again(tmp_path):
    import time

    journal = Journal(tmp_path / "j.db")
    journal.remember_offer("j1", "{}")
    old, _ = journal.append_event("j1", lambda seq: b"old")
    journal.append_event("j1", lambda seq: b"new")
    cutoff = time.time() + 1
    assert [p for _, p in journal.unacked(sent_before=cutoff)] == [b"old", b"new"]
    journal.mark_sent([old])
    assert [p for _, p in journal.unacked(sent_before=time.time() - 0.5)] == []


def test_unfinished_jobs_are_found_with_their_machine_and_file(tmp_path):
    journal = Journal(tmp_path / "j.db")
    for job in ("held", "queued", "starting", "running", "done", "declined"):
        journal.remember_offer(job, f'{{"job_id": "{job}"}}')
    journal.set_state("held", JobState.AWAITING, machine_id="m1")
    journal.set_state("queued", JobState.ACCEPTED, machine_id="m1")
    journal.set_state("starting", JobState.STARTING, machine_id="m1", remote_name="starting.gcode")
    journal.set_state("running", JobState.RUNNING, machine_id="m2", remote_name="running.gcode")
    journal.set_state("done", JobState.DONE)
    journal.set_state("declined", JobState.DECLINED)
    unfinished = {j.job_id: j for j in journal.unfinished()}
    assert set(unfinished) == {"held", "queued", "starting", "running"}
    assert unfinished["running"].machine_id == "m2" and unfinished["running"].remote_name == "running.gcode"
    assert unfinished["held"].offer == {"job_id": "held"}


def test_a_failed_write_allocates_no_sequence_number(tmp_path):
    journal = Journal(tmp_path / "j.db")
    journal.remember_offer("j1", "{}")

    def broken(seq: int) -> bytes:
        raise ValueError("bad event")

    try:
        journal.append_event("j1", broken)
    except ValueError:
        pass
    _, payload = journal.append_event("j1", lambda seq: str(seq).encode())
    assert payload == b"1"


def test_a_repeated_offer_is_taken_again_only_if_it_never_reached_a_machine(tmp_path):
    journal = Journal(tmp_path / "j.db")
    for job in ("crashed-in-intake", "withdrawn", "held", "accepted", "printed", "declined"):
        assert journal.remember_offer(job, '{"v": 1}')
    journal.set_state("withdrawn", JobState.DONE)
    journal.set_state("held", JobState.AWAITING, machine_id="m1")
    journal.set_state("accepted", JobState.ACCEPTED, machine_id="m1", accept_seq=3)
    journal.set_state("printed", JobState.RUNNING, machine_id="m1", remote_name="printed.gcode")
    journal.set_state("printed", JobState.DONE)
    journal.set_state("declined", JobState.DECLINED)
    again = {
        job: journal.claim_repeated_offer(job, '{"v": 2}')
        for job in ("crashed-in-intake", "withdrawn", "held", "accepted", "printed", "declined")
    }
    assert again == {
        "crashed-in-intake": True,
        "withdrawn": True,
        "held": False,
        "accepted": False,
        "printed": False,
        "declined": False,
    }
    assert journal.job("withdrawn").state is JobState.RECEIVED
    assert journal.job("withdrawn").offer == {"v": 2}
    assert journal.job("printed").state is JobState.DONE


def test_connection_epochs_increase_across_restarts_and_clock_steps(tmp_path):
    path = tmp_path / "journal.db"
    journal = Journal(path)
    first = journal.next_connection_epoch(now=1_000_000.0)
    second = journal.next_connection_epoch(first, now=1_000_000.0)  # the clock stood still
    assert second > first
    journal.close()

    reopened = Journal(path)  # the agent restarted, and its clock was set back an hour
    third = reopened.next_connection_epoch(now=1_000_000.0 - 3600)
    assert third > second
    assert reopened.next_connection_epoch(third, now=2_000_000.0) == 2_000_000.0  # time moved on
    reopened.close()
