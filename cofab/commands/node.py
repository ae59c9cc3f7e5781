"""`cofab node run`: the fab-lab agent."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    node = sub.add_parser("node", help="the fab-lab agent").add_subparsers(dest="node_command", required=True)
    run = node.add_parser("run", help="run a node agent")
    run.add_argument("--config", required=True, help="node TOML file (see examples/node.toml)")
    run.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import signal
    import threading

    from fabnode.agent import NodeAgent
    from fabnode.config import ConfigError, load_config

    try:
        config = load_config(Path(args.config))
    except ConfigError as exc:
        print(f"cofab node: {exc}", file=sys.stderr)
        return 2
    agent = NodeAgent(config)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    agent.start()
    done.wait()
    agent.stop()
    return 0
