"""The `cofab` command: run a hub, run a node, run the demo network, and the tools around them.

Command groups live in `cofab/commands/`, one module each. Commands that take `--json` print
one JSON object on their last line.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import cofab.commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cofab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for info in sorted(pkgutil.iter_modules(cofab.commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"cofab.commands.{info.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from cofab import logs

    args = build_parser().parse_args(argv)
    logs.configure()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
