"""`python -m designs.analysis_cli FILE`: the analysis as one JSON line, nothing else.

The smallest process that runs cofab's analysis: no CLI framework, no logging set-up, no
trimesh for a binary STL. `cofab design analyze` prints the same dict (from `describe`);
benchmarks and other tools can run this directly. Exit 0 with the JSON on stdout, or 1 with
one line on stderr when the file cannot be read.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["describe", "main"]


def describe(path: Path) -> dict[str, Any]:
    """The analysis of the mesh or outline at `path` as a JSON-safe dict, with `kind`
    "mesh" (MeshAnalysis.to_dict) or "outline" (Outline.to_dict).

    Raises DesignFileError (and OSError for a file that cannot be opened)."""
    from designs.formats import MeshFormat
    from designs.sniffing import sniff_any_file

    fmt = sniff_any_file(path)
    if isinstance(fmt, MeshFormat):
        from designs.analysis import analyze_mesh

        return {"kind": "mesh", **analyze_mesh(path, fmt).to_dict()}
    from designs.outlines import load_outline

    return {"kind": "outline", **load_outline(path, fmt).to_dict()}


def main(argv: list[str] | None = None) -> int:
    from designs.oneshot import prepare_one_shot_process

    prepare_one_shot_process()  # before numpy is imported (see designs.oneshot)
    from designs.errors import DesignFileError

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m designs.analysis_cli FILE", file=sys.stderr)
        return 2
    path = Path(args[0])
    try:
        data = describe(path)
    except (DesignFileError, OSError) as exc:
        print(f"{path.name}: {' '.join(str(exc).split()) or type(exc).__name__}", file=sys.stderr)
        return 1
    print(json.dumps(data, allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
