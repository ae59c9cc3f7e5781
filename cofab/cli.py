"""The `cofab` command: run a hub, run a node, run the demo network.

Commands that take `--json` print one JSON object on their last line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _hub_run(args: argparse.Namespace) -> int:
    import uvicorn

    from hub.app import create_app
    from hub.config import Settings

    settings = Settings()
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_config=None,
                access_log=False, timeout_graceful_shutdown=5)
    return 0


def _hub_token(args: argparse.Namespace) -> int:
    from sqlmodel import Session

    from hub import migrate
    from hub.auth.roles import Role
    from hub.auth.service import create_token
    from hub.config import Settings
    from hub.db import make_engine

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.resolved_database_url)
    with Session(make_engine(settings.resolved_database_url)) as session:
        record, token = create_token(session, role=Role(args.role), name=args.name)
        session.commit()
    result = {"id": record.id, "name": args.name, "role": args.role, "token": token}
    print(json.dumps(result) if args.json else f"{args.role} token for {args.name}: {token}")
    return 0


def _node_run(args: argparse.Namespace) -> int:
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


def _demo(args: argparse.Namespace) -> int:
    from cofab.demo import run_demo

    summary = run_demo(headless=args.headless, work_dir=Path(args.work_dir) if args.work_dir else None,
                       keep=args.keep)
    if args.json:
        print(json.dumps(summary))
    return 0 if all(o["status"] == "completed" for o in summary["orders"]) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cofab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    hub = sub.add_parser("hub", help="the central service").add_subparsers(dest="hub_command", required=True)
    run = hub.add_parser("run", help="serve the hub API (settings from COFAB_* environment variables)")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.set_defaults(func=_hub_run)
    token = hub.add_parser("token", help="issue an API token directly in the hub database")
    token.add_argument("--role", required=True, choices=["designer", "lab", "maker", "city", "admin"])
    token.add_argument("--name", required=True)
    token.add_argument("--json", action="store_true")
    token.set_defaults(func=_hub_token)

    node = sub.add_parser("node", help="the fab-lab agent").add_subparsers(dest="node_command", required=True)
    node_run = node.add_parser("run", help="run a node agent")
    node_run.add_argument("--config", required=True, help="node TOML file (see examples/node.toml)")
    node_run.set_defaults(func=_node_run)

    demo = sub.add_parser("demo", help="a local network: hub, broker, two labs with virtual printers, orders")
    demo.add_argument("--headless", action="store_true", help="plain progress lines instead of a live table")
    demo.add_argument("--json", action="store_true", help="print the summary as JSON on the last line")
    demo.add_argument("--work-dir", help="where to keep the demo's files (default: a temporary directory)")
    demo.add_argument("--keep", action="store_true", help="keep the work directory afterwards")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    from cofab import logs

    args = build_parser().parse_args(argv)
    logs.configure()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
