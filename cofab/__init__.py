"""cofab's composition root: the `cofab` command line and the local demo network.

This package is the only place that imports hub, fabnode and firmware_bridge together; the
services themselves stay independent of each other (see docs/architecture.md).
"""
