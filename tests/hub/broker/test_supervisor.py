"""The supervisor's lifecycle on a real mosquitto: users at run time, crashes, restarts, errors."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cofab_wire.topics import Topics
from hub.broker import BrokerError, BrokerSettings, MosquittoSupervisor

pytestmark = pytest.mark.integration

T = Topics()
HUB_PASSWORD = "hub-test-password"
WAIT = 5.0


# A node's persistent session, as the node agent keeps it.
PERSISTENT = {"clean_start": False, "session_expiry": 3600}


@pytest.fixture
def can_log_in(broker, mqtt_client):
    """can_log_in(user, password) -> bool: one login attempt at the node listener."""

    def attempt(user: str, password: str) -> bool:
        probe = mqtt_client(broker.settings.node_endpoint, user, password)
        ok = not probe.connect().is_failure
        probe.close()
        return ok

    return attempt


def test_a_node_added_while_running_logs_in_after_reload(broker, can_log_in, wait_until) -> None:
    assert not can_log_in("lab-new", "anything")
    password = broker.add_node("lab-new")
    # The broker applies SIGHUP asynchronously: poll with a deadline.
    wait_until(lambda: can_log_in("lab-new", password), what="new node login")

    rotated = broker.add_node("lab-new")
    assert rotated != password
    wait_until(lambda: not can_log_in("lab-new", password), what="old password refused")
    assert can_log_in("lab-new", rotated)


def test_a_removed_node_is_disconnected_and_refused(broker, connect, can_log_in, wait_until):
    password = broker.add_node("lab-gone")
    wait_until(lambda: can_log_in("lab-gone", password), what="login")
    node = connect("lab-gone", password)

    assert broker.remove_node("lab-gone")
    assert not broker.remove_node("lab-gone")
    node.wait_disconnected()
    assert not can_log_in("lab-gone", password)
    with pytest.raises(ValueError):
        broker.remove_node(broker.settings.hub_username)
    with pytest.raises(ValueError):
        broker.add_node("bad/id")


def test_a_removed_node_is_disconnected_at_once_and_cannot_come_back(tmp_path, mqtt_client, free_port) -> None:
    """As the hub runs it (its own listener): the node's live connection ends at once, and a
    reconnect with its old password is refused."""
    settings = BrokerSettings(data_dir=tmp_path, port=free_port(), hub_port=free_port(), hub_password=HUB_PASSWORD)
    with MosquittoSupervisor(settings) as broker:
        password = broker.add_node("lab-gone")
        node = mqtt_client(settings.node_endpoint, "lab-gone", password, client_id="lab-gone", **PERSISTENT)
        deadline = time.monotonic() + WAIT
        while node.connect().is_failure:  # the broker applies the new user asynchronously
            assert time.monotonic() < deadline, "lab-gone could not log in"
            node.connacks.clear()
        hub = mqtt_client(settings.hub_endpoint, "hub", HUB_PASSWORD, client_id="cofab-hub-1")
        assert not hub.connect().is_failure

        assert broker.remove_node("lab-gone")
        node.wait_disconnected(timeout=1.0)
        again = mqtt_client(settings.node_endpoint, "lab-gone", password, client_id="lab-gone", **PERSISTENT)
        assert again.connect().is_failure
        assert hub.client.is_connected()


def test_the_watchdog_restarts_a_killed_broker(broker_settings, mqtt_client, wait_until, caplog):
    restarts: list[int] = []
    with MosquittoSupervisor(broker_settings, watchdog_interval=0.1, on_restart=lambda: restarts.append(1)) as broker:
        old_pid = broker.pid
        os.kill(old_pid, signal.SIGKILL)
        wait_until(lambda: broker.restart_count == 1 and broker.is_running, what="restart")
        assert broker.pid != old_pid
        wait_until(lambda: restarts == [1], what="on_restart callback")
        hub = mqtt_client(broker_settings.hub_endpoint, "hub", broker_settings.hub_password)
        assert not hub.connect().is_failure
    died = [r for r in caplog.records if r.name == "hub.broker.supervisor" and "died" in r.message]
    assert died and died[0].levelname == "ERROR"
    assert not broker.is_running
    _assert_port_free(broker_settings.port)


def test_a_queued_offer_survives_a_graceful_restart(broker, connect, can_log_in, wait_until):
    password = broker.add_node("lab-away")
    wait_until(lambda: can_log_in("lab-away", password), what="login")
    node = connect("lab-away", password, client_id="lab-away", **PERSISTENT)
    node.subscribe(T.jobs("lab-away"))
    node.close()
    hub = connect("hub", broker.settings.hub_password)
    hub.publish(T.jobs("lab-away"), b"offer while away")
    hub.close()

    broker.stop()
    broker.start()

    back = connect("lab-away", password, client_id="lab-away", **PERSISTENT)
    assert back.session_present
    back.wait_for(T.jobs("lab-away"), b"offer while away")


def test_a_broker_that_cannot_start_is_a_clear_error(broker_settings) -> None:
    # A persistence database mosquitto cannot read makes it exit at once; the error must say
    # so in mosquitto's own words rather than time out.
    broker_settings.persistence_dir.mkdir(parents=True)
    (broker_settings.persistence_dir / "mosquitto.db").write_bytes(b"not a database")
    supervisor = MosquittoSupervisor(broker_settings, start_timeout=12 * WAIT)
    started = time.monotonic()
    with pytest.raises(BrokerError) as caught:
        supervisor.start()
    assert time.monotonic() - started < WAIT  # the exit is noticed, not sat out until the start timeout
    message = str(caught.value)
    assert "exited with code" in message
    assert "database" in message
    assert not supervisor.is_running
    supervisor.stop()


def test_a_port_in_use_is_a_clear_error(tmp_path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        settings = BrokerSettings(data_dir=tmp_path, port=port, hub_password=HUB_PASSWORD)
        supervisor = MosquittoSupervisor(settings)
        with pytest.raises(BrokerError, match="already in use"):
            supervisor.start()
        assert not supervisor.is_running


def _orphan_of_a_dead_hub(settings: BrokerSettings) -> tuple[subprocess.Popen, int]:
    """A hub process that dies without stopping its broker leaves mosquitto holding the port."""
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from hub.broker import BrokerSettings, MosquittoSupervisor\n"
        f"s = BrokerSettings(data_dir=Path({str(settings.data_dir)!r}), "
        f"port={settings.port}, hub_password={settings.hub_password!r})\n"
        "sup = MosquittoSupervisor(s).start()\n"
        "print(sup.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    hub = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=Path(__file__).parents[3])
    orphan = int(hub.stdout.readline())
    hub.kill()
    hub.wait()
    assert _alive(orphan)
    return hub, orphan


def test_a_healthy_broker_left_by_a_dead_hub_is_adopted(broker_settings, mqtt_client, wait_until) -> None:
    """A crashed hub's broker keeps every node connected: the next hub adopts it, watches it,
    restarts it if it dies, and stops it at the end."""
    hub, orphan = _orphan_of_a_dead_hub(broker_settings)
    try:
        with MosquittoSupervisor(broker_settings) as broker:
            assert broker.pid == orphan and _alive(orphan)
            client = mqtt_client(broker_settings.hub_endpoint, "hub", broker_settings.hub_password)
            assert not client.connect().is_failure
            os.kill(orphan, signal.SIGKILL)
            wait_until(lambda: broker.pid not in (None, orphan), what="the watchdog to start a new broker")
            assert broker.restart_count == 1
            replacement = broker.pid
        assert not _alive(replacement)
    finally:
        hub.kill()
        if _alive(orphan):
            os.kill(orphan, signal.SIGKILL)


def test_a_broker_left_with_another_config_is_replaced(broker_settings, mqtt_client, wait_until) -> None:
    hub, orphan = _orphan_of_a_dead_hub(broker_settings)
    try:
        changed = BrokerSettings(
            data_dir=broker_settings.data_dir,
            port=broker_settings.port,
            hub_password=broker_settings.hub_password,
            max_queued_messages=77,
        )
        with MosquittoSupervisor(changed) as broker:
            assert broker.pid != orphan
            wait_until(lambda: not _alive(orphan), what="the orphan to exit")
            client = mqtt_client(changed.hub_endpoint, "hub", changed.hub_password)
            assert not client.connect().is_failure
    finally:
        hub.kill()
        if _alive(orphan):
            os.kill(orphan, signal.SIGKILL)


def test_a_hub_listener_keeps_nodes_out_of_each_others_sessions(tmp_path, mqtt_client, wait_until, free_port) -> None:
    settings = BrokerSettings(data_dir=tmp_path, port=free_port(), hub_port=free_port(), hub_password=HUB_PASSWORD)
    with MosquittoSupervisor(settings) as broker:
        pw_a, pw_b = broker.add_node("lab-a"), broker.add_node("lab-b")

        def node(user: str, password: str, client_id: str):
            probe = mqtt_client(settings.node_endpoint, user, password, client_id=client_id, **PERSISTENT)
            wait_until(lambda: not probe.connect().is_failure, what=f"{user} login")
            return probe

        b = node("lab-b", pw_b, "lab-b")
        b.subscribe(T.jobs("lab-b"))
        b.close()
        hub_1 = mqtt_client(settings.hub_endpoint, "hub", HUB_PASSWORD, client_id="hub-1")
        hub_2 = mqtt_client(settings.hub_endpoint, "hub", HUB_PASSWORD, client_id="hub-2")
        assert not hub_1.connect().is_failure and not hub_2.connect().is_failure
        hub_1.publish(T.jobs("lab-b"), b"offer for b")

        # A claims B's client id; on the node listener its id is forced to "lab-a" instead
        # of taking over (and emptying) B's session.
        a = node("lab-a", pw_a, "lab-b")
        assert not a.session_present
        a.close()
        b = node("lab-b", pw_b, "lab-b")
        assert b.session_present
        b.wait_for(T.jobs("lab-b"), b"offer for b")
        # Two hub connections with one user name do not kick each other on the hub listener.
        assert hub_1.client.is_connected() and hub_2.client.is_connected()


def test_a_lab_login_is_refused_on_the_hub_listener(tmp_path, mqtt_client, wait_until, free_port) -> None:
    """On the hub's listener client ids are not forced: a lab logging in there could take over
    the hub's or another lab's session, so only the hub's own user may log in there."""
    settings = BrokerSettings(data_dir=tmp_path, port=free_port(), hub_port=free_port(), hub_password=HUB_PASSWORD)
    with MosquittoSupervisor(settings) as broker:
        pw_a = broker.add_node("lab-a")
        on_node_listener = mqtt_client(settings.node_endpoint, "lab-a", pw_a)
        wait_until(lambda: not on_node_listener.connect().is_failure, what="lab-a login on the nodes' listener")
        on_hub_listener = mqtt_client(settings.hub_endpoint, "lab-a", pw_a, client_id="cofab-hub-1")
        assert on_hub_listener.connect().value in (134, 135)  # bad credentials / not authorised
        hub = mqtt_client(settings.hub_endpoint, "hub", HUB_PASSWORD, client_id="cofab-hub-1")
        assert not hub.connect().is_failure
        on_node_listener.subscribe(T.jobs("lab-a"))
        hub.publish(T.jobs("lab-a"), b"offer")
        on_node_listener.wait_for(T.jobs("lab-a"), b"offer")
        # Nor may the hub's user log in on the nodes' listener: it has its own.
        assert mqtt_client(settings.node_endpoint, "hub", HUB_PASSWORD).connect().is_failure


def test_stop_is_safe_twice_and_reload_without_broker_writes_files(broker_settings) -> None:
    supervisor = MosquittoSupervisor(broker_settings)
    supervisor.stop()
    supervisor.add_node("lab-early")  # not running: the files wait for the next start
    assert "lab-early:" in broker_settings.password_file.read_text()
    with supervisor:
        assert supervisor.is_running
        with pytest.raises(BrokerError, match="already running"):
            supervisor.start()
        assert broker_settings.pid_file.read_text().strip() == str(supervisor.pid)
    supervisor.stop()
    assert not supervisor.is_running
    assert not broker_settings.pid_file.exists()
    assert (broker_settings.persistence_dir / "mosquitto.db").exists()  # saved on SIGTERM


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _assert_port_free(port: int) -> None:
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
