"""`cofab demo`: the local demo network."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="a local network: hub, broker, two labs with virtual printers, orders")
    demo.add_argument("--headless", action="store_true", help="progress on stderr, for scripts and CI")
    demo.add_argument("--json", action="store_true", help="print the summary as JSON on the last line")
    demo.add_argument("--work-dir", help="where to keep the demo's files (default: a temporary directory)")
    demo.add_argument("--keep", action="store_true", help="keep the work directory afterwards")
    demo.add_argument(
        "--serve",
        action="store_true",
        help="after the orders, keep the network running to browse the pages (Ctrl-C stops)",
    )
    demo.set_defaults(func=_run)


def _wait_for_signal() -> None:
    import signal
    import threading

    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()


def _run(args: argparse.Namespace) -> int:
    from cofab.demo import run_demo

    summary = run_demo(
        headless=args.headless,
        work_dir=Path(args.work_dir) if args.work_dir else None,
        keep=args.keep,
        serve=_wait_for_signal if args.serve else None,
    )
    if args.json:
        print(json.dumps(summary))
    return 0 if all(o["status"] == "completed" for o in summary["orders"]) else 1
