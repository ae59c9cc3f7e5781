"""cofab's composition root: the `cofab` command line and the local demo network.

This package is the only place that imports hub, fabnode and firmware_bridge together; the
services themselves stay independent of each other (see docs/architecture.md).

Entry point: the `cofab` command (`cofab.cli:main`; `cofab --help` lists the groups).
- `cli`: the parser; `commands/`: one module per command group (`hub`, `node`, `demo`,
  `design`, `gcode`);
- `demo`: `cofab demo`, orders flowing through a local network in Barcelona;
- `devstack/`: the real outside processes the demo and the tests start (OctoPrint virtual
  printers, a whole local network, the GRBL emulator, sample designs);
- `logs`: structured logging for every cofab process.
"""
