"""The node's retained status message: who it is, online or not, and what each machine can do now."""

from __future__ import annotations

from cofab_wire import MachineStatus, NodeStatus
from fabnode.config import NodeConfig


def node_status(
    config: NodeConfig,
    *,
    online: bool,
    states: dict[str, str] | None = None,
    queues: dict[str, int] | None = None,
    etas: dict[str, float] | None = None,
    connection_epoch: float | None = None,
) -> NodeStatus:
    states, queues, etas = states or {}, queues or {}, etas or {}
    return NodeStatus(
        node_id=config.node_id,
        online=online,
        connection_epoch=connection_epoch,
        machines=[
            MachineStatus(
                machine_id=m.id,
                process=m.process,
                build_volume_mm=m.build_volume_mm,
                materials=m.materials,
                state=states.get(m.id, "unknown"),
                queue_length=queues.get(m.id, 0),
                material_loaded=m.material_loaded,
                colour_loaded=m.colour_loaded,
                nozzle_mm=m.nozzle_mm,
                eta_free_s=etas.get(m.id, 0.0),
            )
            for m in config.machines
        ],
    )
