"""`cofab design analyze|thumbnail|repair`: check a design file before publishing it.

The same analysis the hub runs on upload (`designs`), from the command line. Imports are
deferred to the command that needs them: `analyze` on a binary STL never imports trimesh.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

# exit codes: 0 analysed (whatever the verdict), 1 the file cannot be read as a design
EXIT_UNREADABLE = 1


def register(sub: argparse._SubParsersAction) -> None:
    design = sub.add_parser("design", help="check design files (meshes, laser/CNC outlines)")
    commands = design.add_subparsers(dest="design_command", required=True)
    analyze = commands.add_parser("analyze", help="analyse a mesh (STL, 3MF, OBJ) or an outline (SVG, DXF)")
    analyze.add_argument("file", type=Path)
    analyze.add_argument("--json", action="store_true", help="print the analysis as one JSON object on the last line")
    analyze.set_defaults(func=_analyze)
    thumbnail = commands.add_parser("thumbnail", help="render a mesh's PNG thumbnail")
    thumbnail.add_argument("file", type=Path)
    thumbnail.add_argument("output", type=Path, help="where to write the PNG")
    thumbnail.add_argument("--size", type=int, default=256, help="width and height in pixels")
    thumbnail.set_defaults(func=_thumbnail)
    repair = commands.add_parser("repair", help="write a repaired copy of a mesh (binary STL)")
    repair.add_argument("file", type=Path)
    repair.add_argument("output", type=Path, help="where to write the repaired STL")
    repair.set_defaults(func=_repair)


def _fail(command: str, path: Path, reason: str) -> int:
    print(f"cofab design {command}: {path.name}: {' '.join(reason.split())}", file=sys.stderr)
    return EXIT_UNREADABLE


def analysis_json(path: Path) -> dict[str, Any]:
    """The analysis of the mesh or outline at `path` as a JSON-safe dict with a `kind`
    (`designs.analysis_cli.describe`). Raises DesignFileError (and OSError)."""
    from designs.analysis_cli import describe

    return describe(path)


def _quiet_libraries() -> None:
    """ezdxf logs routine notes (dictionaries it creates) at INFO: not for a designer's
    terminal, which shows only the analysis and, on failure, one line."""
    import logging

    logging.getLogger("ezdxf").setLevel(logging.WARNING)


def _analyze(args: argparse.Namespace) -> int:
    from designs.oneshot import prepare_one_shot_process

    prepare_one_shot_process()  # before numpy is imported (see designs.oneshot)
    from designs.errors import DesignFileError

    _quiet_libraries()
    try:
        data = analysis_json(args.file)
    except (DesignFileError, OSError) as exc:
        return _fail("analyze", args.file, str(exc) or type(exc).__name__)
    if args.json:
        print(json.dumps(data, allow_nan=False))
    else:
        _print_human(args.file, data)
    return 0


def _size(values: list[float | None]) -> str:
    return " x ".join("?" if v is None else f"{v:.2f}" for v in values)


def _print_human(path: Path, data: dict[str, Any]) -> None:
    print(f"{path.name}: {data['kind']}, {data['format']}")
    if data["kind"] == "mesh":
        volume = "n/a (not a closed solid)" if data["volume"] is None else f"{data['volume']:.1f} mm³"
        print(f"  size        {_size(data['bbox_extents'])} mm")
        print(f"  faces       {data['faces']:,}   vertices {data['vertices']:,}   bodies {data['bodies']}")
        print(f"  volume      {volume}")
        print(
            f"  watertight  {'yes' if data['watertight'] else 'no'}"
            f"   winding consistent {'yes' if data['winding_consistent'] else 'no'}"
        )
        print(
            f"  defects     {data['boundary_edges']:,} open edges, {data['nonmanifold_edges']:,} "
            f"non-manifold edges, {data['degenerate_faces']:,} degenerate faces"
        )
        print(f"  overhang    {data['overhang_fraction']:.1%} of the surface")
        print(f"  verdict     {data['verdict']}")
        for reason in data["reasons"]:
            print(f"    - {reason}")
    else:
        print(f"  size        {_size(data['bbox_extents'])} mm (declared units: {data['units']})")
        print(f"  paths       {data['closed_paths']} closed, {data['open_paths']} open")
        print(f"  cut length  {data['cut_length_mm']:.1f} mm")
        for warning in data["warnings"]:
            print(f"    ! {warning}")


def _thumbnail(args: argparse.Namespace) -> int:
    from designs.errors import DesignFileError
    from designs.thumbnail import render_thumbnail

    try:
        png = render_thumbnail(args.file, size_px=args.size)
    except (DesignFileError, OSError) as exc:
        return _fail("thumbnail", args.file, str(exc) or type(exc).__name__)
    args.output.write_bytes(png)
    print(f"wrote {args.output} ({len(png):,} bytes)")
    return 0


def _repair(args: argparse.Namespace) -> int:
    from designs.errors import DesignFileError
    from designs.repair import repair_mesh

    try:
        result = repair_mesh(args.file)
    except (DesignFileError, OSError) as exc:
        return _fail("repair", args.file, str(exc) or type(exc).__name__)
    if result is None:
        print(f"{args.file.name}: nothing to repair (or nothing cofab can repair)")
        return 0
    args.output.write_bytes(result.stl)
    print(f"wrote {args.output}: {'; '.join(result.actions)}")
    return 0
