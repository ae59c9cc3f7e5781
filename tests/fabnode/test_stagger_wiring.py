"""The node's start stagger belongs to its agent: every worker of one agent shares it, with the
node's `start_stagger_s`, and a second agent in the same process (even on the same work dir)
has its own, so one agent's starts never delay another's."""

from __future__ import annotations

from pathlib import Path

from fabnode.agent import NodeAgent
from fabnode.config import NodeConfig


def agent(work_dir: Path, **settings: float) -> NodeAgent:
    machine = {
        "process": "FDM",
        "build_volume_mm": (200, 200, 200),
        "driver": {"type": "octoprint", "url": "http://127.0.0.1:9", "api_key": "k"},
    }
    config = NodeConfig(
        node_id="lab",
        work_dir=work_dir,
        location={"lat": 41.4, "lon": 2.2},
        machines=[{"id": "p1", **machine}, {"id": "p2", **machine}],
        **settings,
    )
    return NodeAgent(config)


def test_workers_share_their_agents_stagger_and_agents_do_not_share(tmp_path: Path) -> None:
    first, second = agent(tmp_path), agent(tmp_path, start_stagger_s=5)
    try:
        assert {id(w._stagger) for w in first.workers.values()} == {id(first.stagger)}
        assert {id(w._stagger) for w in second.workers.values()} == {id(second.stagger)}
        assert first.stagger is not second.stagger
        assert (first.stagger.delay_s, second.stagger.delay_s) == (30.0, 5)  # the default, and as set
        first.stagger.reserve("p1")
        assert second.stagger.reserve("p2") == 0  # another agent's start does not hold this one up
    finally:
        first.journal.close()
        second.journal.close()
