"""Imported once by the analysis forkserver (`hub.catalog.sandbox`), so that every analysis
child is forked with numpy, trimesh and the `designs` analysis already imported instead of
importing them per file (~0.5 s)."""

from __future__ import annotations

import numpy  # noqa: F401
import trimesh  # noqa: F401

import designs

for _name in ("analyze_mesh", "repair_mesh", "render_thumbnail", "viewer_mesh", "load_outline"):
    getattr(designs, _name)  # designs imports its modules on first use (PEP 562)
