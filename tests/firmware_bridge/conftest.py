"""One real OctoPrint with its virtual printer for the firmware_bridge tests.

Started once per session (about 3 s); every test gets a freshly connected driver and the
printer is returned to idle after each test, so tests do not depend on their order.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cofab.devstack.octoprint import VirtualOctoPrint
from firmware_bridge import JOB_STATES, MachineState, OctoPrintDriver
from tests.firmware_bridge.support import FAST, Recorder, state_is, wait_for


@pytest.fixture(scope="session")
def octoprint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VirtualOctoPrint]:
    with VirtualOctoPrint(tmp_path_factory.mktemp("octoprint")) as server:
        yield server


@pytest.fixture
def driver(octoprint: VirtualOctoPrint) -> Iterator[OctoPrintDriver]:
    drv = OctoPrintDriver(octoprint.url, octoprint.api_key, port="VIRTUAL", setup_commands=FAST)
    drv.connect(timeout=20)
    yield drv
    drv.stop_monitoring()
    # Leave the printer idle for the next test, whatever this one did to it.
    snapshot = drv.status()
    if snapshot.state in JOB_STATES:
        if snapshot.state is not MachineState.CANCELLING:
            drv.cancel()
        wait_for(state_is(drv, MachineState.IDLE), 15, "cleanup: idle after cancel")
    elif snapshot.state is not MachineState.IDLE:
        drv.connect(timeout=20)
    drv.close()


@pytest.fixture
def recorder(driver: OctoPrintDriver) -> Recorder:
    return Recorder.listening_to(driver, interval_s=0.1)
