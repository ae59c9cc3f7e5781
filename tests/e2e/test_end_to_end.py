"""End to end on real parts: a hub process with its own Mosquitto, two node agent processes,
each driving an OctoPrint virtual printer, PrusaSlicer slicing on the node.

One network serves the module (starting it takes ~10 s); tests that kill a node start it
again before they end.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cofab.devstack.network import LabSpec, LocalNetwork
from cofab.devstack.samples import box, open_box, stl_bytes

pytestmark = pytest.mark.integration

EAST = LabSpec("lab-east", "Lab East", "Barcelona", 41.3969, 2.1945)
WEST = LabSpec("lab-west", "Lab West", "Barcelona", 41.3836, 2.1302, build_volume_mm=(180.0, 180.0, 180.0))
MANUAL = LabSpec("lab-manual", "Lab Manual", "Badalona", 41.4500, 2.2470, auto_accept=False)
NEAR_EAST = (41.4036, 2.1744)
NEAR_MANUAL = (41.4480, 2.2450)
TERMINAL = {"completed", "failed", "cancelled"}


@pytest.fixture(scope="module")
def network(tmp_path_factory) -> LocalNetwork:
    with LocalNetwork(tmp_path_factory.mktemp("network"), [EAST, WEST, MANUAL], offer_timeout_s=60) as net:
        yield net


@pytest.fixture(scope="module")
def designer(network):
    return network.client(network.issue_token("designer", "E2E Designer"))


@pytest.fixture(scope="module")
def maker(network):
    return network.client(network.issue_token("maker", "E2E Maker"))


def publish(designer, data: bytes, title: str) -> dict:
    response = designer.post("/api/v1/designs", content=data, params={"filename": "part.stl", "title": title})
    assert response.status_code == 201, response.text
    return response.json()


def place(maker, design: dict, where=NEAR_EAST) -> dict:
    response = maker.post(
        "/api/v1/orders",
        json={"design_id": design["id"], "material": "PLA", "quantity": 1, "lat": where[0], "lon": where[1]},
    )
    assert response.status_code == 201, response.text
    return maker.get(response.headers["Location"]).json()


def wait_terminal(maker, order_id: str, timeout_s: float = 120, *, network=None) -> dict:
    """Wait for the order to end; with `network`, a person at lab-manual accepts what it holds."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        order = maker.get(f"/api/v1/orders/{order_id}").json()
        if order["status"] in TERMINAL:
            return order
        for job in order["jobs"]:
            if network is not None and job["status"] == "awaiting_acceptance":
                network.lab_client(job["node_id"]).post(f"/api/v1/jobs/{job['id']}/accept")
        time.sleep(0.5)
    raise AssertionError(f"order {order_id} not finished in {timeout_s} s: {order}")


def test_an_order_is_printed_on_the_nearest_node(network, designer, maker):
    design = publish(designer, stl_bytes(box((20, 20, 10))), "E2E cube")
    order = wait_terminal(maker, place(maker, design)["id"])
    assert order["status"] == "completed", order["events"]
    job = order["jobs"][0]
    assert job["node_id"] == "lab-east" and job["percent"] == 100
    kinds = [e["kind"] for e in order["events"]]
    for expected in ("placed", "offered", "accepted", "progress", "completed", "order_completed"):
        assert expected in kinds, kinds
    stages = [e["data"].get("stage") for e in order["events"] if e["kind"] == "progress"]
    assert stages.index("fetching") < stages.index("checking") < stages.index("slicing") < stages.index("running")
    # OctoPrint's own record: the job's G-code was printed once, on lab-east's printer only.
    assert network.octoprint("lab-east").started_prints().get(f"{job['id']}.gcode") == 1
    assert f"{job['id']}.gcode" not in network.octoprint("lab-west").started_prints()


def wait_job_status(maker, order_id: str, status: str, timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        order = maker.get(f"/api/v1/orders/{order_id}").json()
        if order["jobs"][0]["status"] == status:
            return order
        time.sleep(0.3)
    raise AssertionError(f"job of {order_id} never reached {status}: {order['jobs'][0]}")


def test_a_lab_that_wants_a_person_holds_the_checked_offer_until_accepted(network, designer, maker):
    design = publish(designer, stl_bytes(box((12, 12, 6))), "Manual accept")
    order = place(maker, design, where=NEAR_MANUAL)
    assert order["jobs"][0]["node_id"] == "lab-manual"
    held = wait_job_status(maker, order["id"], "awaiting_acceptance")
    job_id = held["jobs"][0]["id"]
    time.sleep(1.5)  # the node does not go ahead on its own
    assert maker.get(f"/api/v1/orders/{order['id']}").json()["jobs"][0]["status"] == "awaiting_acceptance"
    response = network.lab_client("lab-manual").post(f"/api/v1/jobs/{job_id}/accept")
    assert response.status_code == 200, response.text
    done = wait_terminal(maker, order["id"])
    assert done["status"] == "completed", done["events"]
    assert network.octoprint("lab-manual").started_prints().get(f"{job_id}.gcode") == 1


def test_a_maker_cancels_a_held_offer_and_nothing_is_printed(network, designer, maker):
    design = publish(designer, stl_bytes(box((12, 12, 6))), "Cancelled")
    order = place(maker, design, where=NEAR_MANUAL)
    job_id = wait_job_status(maker, order["id"], "awaiting_acceptance")["jobs"][0]["id"]
    cancelled = maker.post(f"/api/v1/orders/{order['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["cancelled"] == [job_id]
    assert cancelled.json()["order"]["status"] == "cancelled"
    late = network.lab_client("lab-manual").post(f"/api/v1/jobs/{job_id}/accept")
    assert late.status_code == 409
    time.sleep(2)
    assert f"{job_id}.gcode" not in network.octoprint("lab-manual").started_prints()


def test_a_non_watertight_mesh_is_declined_by_every_node_with_the_reason(network, designer, maker):
    design = publish(designer, stl_bytes(open_box(20)), "Leaky box")
    assert design["files"][0]["watertight"] is False
    order = wait_terminal(maker, place(maker, design)["id"])
    assert order["status"] == "failed"
    declines = [e["message"] for e in order["events"] if e["kind"] == "declined"]
    assert len(declines) == 3, order["events"]
    assert all("not watertight" in message for message in declines)
    assert {e["node_id"] for e in order["events"] if e["kind"] == "declined"} == {"lab-east", "lab-west", "lab-manual"}


def test_a_part_larger_than_every_machine_is_refused_with_the_reason(network, designer, maker):
    design = publish(designer, stl_bytes(box((260, 240, 60))), "Wide panel")
    order = place(maker, design)
    assert order["status"] == "failed"
    reason = order["jobs"][0]["reason"]
    assert all(lab in reason for lab in ("lab-east", "lab-west", "lab-manual")) and "does not fit" in reason


def test_an_offline_node_is_skipped_and_the_other_node_prints(network, designer, maker):
    network.kill_node("lab-east")
    try:
        network.wait_nodes_online(["lab-east"], online=False, timeout_s=30)
        design = publish(designer, stl_bytes(box((15, 15, 8))), "Offline test")
        order = wait_terminal(maker, place(maker, design)["id"], network=network)
        assert order["status"] == "completed", order["events"]
        assert order["jobs"][0]["node_id"] != "lab-east"
        offered = [e for e in order["events"] if e["kind"] == "offered"]
        assert offered[0]["node_id"] != "lab-east"
        assert offered[0]["data"]["skipped"]["lab-east"] == "node is offline"
    finally:
        network.start_node("lab-east")
        network.wait_nodes_online(["lab-east"], timeout_s=60)


def test_the_gcode_on_the_machine_carries_the_attribution_header(network, designer, maker):
    design = publish(designer, stl_bytes(box((10, 10, 5))), "Attributed part")
    order = wait_terminal(maker, place(maker, design)["id"], network=network)
    assert order["status"] == "completed"
    job = order["jobs"][0]
    gcode = next(Path(network.work_dir).glob(f"node-{job['node_id']}/jobs/{job['id']}/{job['id']}.gcode"))
    head = gcode.read_text().splitlines()[:6]
    assert head[0].startswith(f"; cofab job {job['id']}")
    assert any("licence: CC-BY-SA-4.0" in line for line in head)
    assert any("authors: E2E Designer" in line for line in head)


def test_malformed_and_foreign_payloads_from_a_node_change_nothing(network, designer, maker):
    """A registered but misbehaving node: garbage on its own events topic is dropped by the hub,
    an event for another lab's job is ignored, and publishing as another lab is refused by the
    broker (reason code 135). The hub keeps working."""
    import json

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    registered = network.client(network.admin_token).post(
        "/api/v1/nodes", json={"id": "lab-rogue", "name": "Rogue", "lat": 41.40, "lon": 2.17, "machines": []}
    )
    assert registered.status_code == 201, registered.text
    design = publish(designer, stl_bytes(box((12, 12, 6))), "Rogue target")
    victim = place(maker, design)
    victim_job = victim["jobs"][0]["id"]
    # A failure in lab-east's name: sent on the rogue's own topic, then on lab-east's.
    east_failed = json.dumps(
        {"kind": "event", "job_id": victim_job, "node_id": "lab-east", "seq": 99, "type": "failed", "reason": "spoofed"}
    ).encode()

    acks: dict[int, object] = {}
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="lab-rogue", protocol=mqtt.MQTTv5)
    client.username_pw_set("lab-rogue", registered.json()["mqtt"]["password"])
    client.on_publish = lambda _c, _u, mid, reason, _p: acks.__setitem__(mid, reason)
    client.connect("127.0.0.1", network.mqtt_port)
    client.loop_start()
    try:
        own = "cofab/v1/nodes/lab-rogue/events"
        for payload in (
            b"",
            b"\xff\xfe not json",
            b"{" * 50_000,
            b'{"kind": "event"}',
            json.dumps(
                {"kind": "event", "job_id": victim_job, "node_id": "lab-rogue", "seq": 99, "type": "completed"}
            ).encode(),
            east_failed,
        ):
            client.publish(own, payload, qos=1).wait_for_publish(5)
        foreign = client.publish(
            "cofab/v1/nodes/lab-east/events",
            east_failed,
            qos=1,
        )
        foreign.wait_for_publish(5)
        assert acks[foreign.mid].value == 135  # not authorised
    finally:
        client.disconnect()
        client.loop_stop()

    order = wait_terminal(maker, victim["id"], network=network)
    assert order["status"] == "completed", order["events"]
    assert not any("spoofed" in e["message"] for e in order["events"])
    assert network.client(network.admin_token).get("/healthz").json()["mqtt_connected"] is True


def test_a_node_killed_mid_print_reconciles_from_the_machine_and_prints_once(network, designer, maker):
    """SIGKILL the node while its printer prints; on restart the journal says the job was
    running, the node asks OctoPrint, follows the print to its end and reports it once."""
    design = publish(designer, stl_bytes(box((30, 30, 12))), "Survives a crash")
    order = place(maker, design, where=(41.3840, 2.1310))  # next to lab-west
    job_id = order["jobs"][0]["id"]
    node = order["jobs"][0]["node_id"]
    wait_job_status(maker, order["id"], "running", timeout_s=60)
    network.kill_node(node)
    try:
        network.wait_nodes_online([node], online=False, timeout_s=30)
    finally:
        network.start_node(node)
    done = wait_terminal(maker, order["id"], network=network)
    assert done["status"] == "completed", done["events"]
    assert done["jobs"][0]["node_id"] == node and done["jobs"][0]["attempts"] == 1
    assert network.octoprint(node).started_prints().get(f"{job_id}.gcode") == 1
    assert [e["kind"] for e in done["events"]].count("completed") == 1
