"""2D cut outlines (designs.outlines): SVG and DXF files written here with known geometry."""

from __future__ import annotations

import json
import math
from pathlib import Path

import ezdxf
import numpy as np
import pytest

from designs import (
    DesignFileError,
    EmptyFileError,
    EmptyOutlineError,
    MeshFormat,
    NotAMeshError,
    NotAnOutlineError,
    OutlineFormat,
    load_outline,
    sniff_any,
    sniff_outline,
)
from designs.outline_geometry import join_pieces


def svg(body: str, attrs: str = 'width="100mm" height="50mm" viewBox="0 0 100 50"') -> bytes:
    return f'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" {attrs}>{body}</svg>'.encode()


def write(tmp_path: Path, data: bytes, name: str = "drawing") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def dxf_file(tmp_path: Path, build, insunits: int = 4, name: str = "drawing.dxf") -> Path:
    doc = ezdxf.new("R2010")
    doc.header["$INSUNITS"] = insunits
    build(doc.modelspace(), doc)
    path = tmp_path / name
    doc.saveas(path)
    return path


# --- sniffing -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "head, expected",
    [
        (svg(""), OutlineFormat.SVG),
        (b"\xef\xbb\xbf<svg xmlns='http://www.w3.org/2000/svg'/>", OutlineFormat.SVG),
        (b"<!-- made by hand -->\n<!DOCTYPE svg PUBLIC '-//W3C//DTD SVG 1.1//EN' 'x'>\n<svg>", OutlineFormat.SVG),
        (b"<svg:svg xmlns:svg='http://www.w3.org/2000/svg'>", OutlineFormat.SVG),
        (b"  0\r\nSECTION\r\n  2\r\nHEADER\r\n", OutlineFormat.DXF),
        (b"999\ncomment\n0\nSECTION\n2\nENTITIES\n", OutlineFormat.DXF),
        (b"AutoCAD Binary DXF\r\n\x1a\x00rest", OutlineFormat.DXF),
        (b"<html><body>not a drawing</body></html>", None),
        (b"<?xml version='1.0'?><amf unit='millimeter'>", None),
        (b"solid cube\nfacet normal 0 0 1\n", None),
        (b"", None),
        (b"\x00\x01\x02", None),
    ],
)
def test_sniff_outline(head: bytes, expected: OutlineFormat | None) -> None:
    assert sniff_outline(head) == expected


def test_sniff_any_tells_meshes_from_outlines(write_mesh, box20) -> None:
    assert sniff_any(svg(""), 200, "x.svg") is OutlineFormat.SVG
    assert sniff_any(b"0\nSECTION\n", 200, None) is OutlineFormat.DXF
    stl = write_mesh(box20, MeshFormat.STL_BINARY).read_bytes()
    assert sniff_any(stl[:8192], len(stl), "part.svg") is MeshFormat.STL_BINARY  # content wins
    with pytest.raises(EmptyFileError):
        sniff_any(b"", 0, "empty.svg")
    with pytest.raises(NotAMeshError):
        sniff_any(b"<html></html>", 13, "page.svg")


# --- SVG ----------------------------------------------------------------------------


def test_svg_rectangle_in_mm(tmp_path: Path) -> None:
    outline = load_outline(write(tmp_path, svg('<rect x="10" y="5" width="30" height="20"/>')))
    assert outline.format is OutlineFormat.SVG
    assert outline.units == "mm"
    assert outline.closed_paths == 1 and outline.open_paths == 0
    assert outline.bbox_extents == pytest.approx((30.0, 20.0))
    # Y up: 50 mm sheet, rectangle 5..25 mm from the top -> 25..45 mm from the bottom
    assert outline.bbox_min == pytest.approx((10.0, 25.0))
    assert outline.cut_length_mm == pytest.approx(100.0)
    assert outline.warnings == ()
    path = outline.paths[0]
    assert path.points.shape == (4, 2) and path.closed  # first point not repeated


def test_svg_viewbox_scales_to_the_physical_width(tmp_path: Path) -> None:
    doc = svg('<rect x="0" y="0" width="500" height="100"/>', 'width="4in" height="1in" viewBox="0 0 1000 250"')
    outline = load_outline(write(tmp_path, doc))
    assert outline.units == "in"
    assert outline.bbox_extents == pytest.approx((50.8, 10.16))


def test_svg_without_physical_size_is_read_as_css_pixels(tmp_path: Path) -> None:
    outline = load_outline(write(tmp_path, svg('<rect width="96" height="48"/>', 'viewBox="0 0 200 100"')))
    assert outline.units == "px"
    assert outline.bbox_extents == pytest.approx((25.4, 12.7))
    assert any("96 px per inch" in w for w in outline.warnings)


def test_svg_hidden_elements_are_not_cut(tmp_path: Path) -> None:
    body = """
      <defs><rect id="r" width="10" height="10"/></defs>
      <rect x="0" y="0" width="10" height="10" style="display:none"/>
      <g display="none"><rect x="20" y="0" width="10" height="10"/></g>
      <use href="#r" x="40" y="0"/>
      <rect x="60" y="0" width="10" height="10"/>
    """
    outline = load_outline(write(tmp_path, svg(body)))
    assert len(outline.paths) == 2  # the <use> copy and the plain rectangle
    assert outline.bbox_min[0] == pytest.approx(40.0)


def test_svg_masks_markers_symbols_and_invisible_shapes_are_not_cut(tmp_path: Path) -> None:
    body = """
      <mask id="m"><rect x="0" width="5" height="5"/></mask>
      <marker id="k"><path d="M 0 0 L 5 5"/></marker>
      <pattern id="p"><rect width="2" height="2"/></pattern>
      <clipPath id="c"><rect x="10" width="5" height="5"/></clipPath>
      <symbol id="s"><rect x="80" width="5" height="5"/></symbol>
      <rect x="20" width="5" height="5" visibility="hidden"/>
      <g style="visibility:hidden"><rect x="30" width="5" height="5"/></g>
      <use href="#s" x="-30"/>
      <rect x="90" width="5" height="5"/>
    """
    outline = load_outline(write(tmp_path, svg(body)))
    # only the symbol where it is used (x 50) and the plain rectangle (x 90)
    assert sorted(round(p.points[:, 0].min()) for p in outline.paths) == [50, 90]
    assert "2 hidden shapes (visibility) not cut" in outline.warnings


def test_svg_circle_is_flattened_finely(tmp_path: Path) -> None:
    outline = load_outline(write(tmp_path, svg('<circle cx="50" cy="25" r="20"/>')))
    assert outline.closed_paths == 1
    assert outline.cut_length_mm == pytest.approx(2 * math.pi * 20, rel=1e-4)
    radii = np.linalg.norm(outline.paths[0].points - [50.0, 25.0], axis=1)
    assert radii == pytest.approx(20.0, abs=0.02)


def test_svg_open_path_and_transforms(tmp_path: Path) -> None:
    body = '<g transform="translate(10 10) scale(2)"><path d="M 0 0 L 10 0 L 10 5"/></g>'
    outline = load_outline(write(tmp_path, svg(body)))
    assert outline.open_paths == 1 and outline.closed_paths == 0
    assert outline.cut_length_mm == pytest.approx(30.0)
    assert any("1 open path" in w for w in outline.warnings)


def test_svg_zero_size_shapes_are_ignored_with_a_warning(tmp_path: Path) -> None:
    # svgelements drops an r="0" circle itself; a path that goes nowhere is ours to skip
    body = '<circle cx="5" cy="5" r="0"/><path d="M 5 5 L 5 5"/><rect width="10" height="10"/>'
    outline = load_outline(write(tmp_path, svg(body)))
    assert len(outline.paths) == 1
    assert "1 zero-size shape ignored" in outline.warnings


@pytest.mark.parametrize(
    "data, error",
    [
        (svg(""), EmptyOutlineError),
        (svg('<rect width="10" height="10" style="display:none"/>'), EmptyOutlineError),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><rect", NotAnOutlineError),
        (b"", EmptyFileError),
        (b"just some text", NotAnOutlineError),
    ],
)
def test_svg_errors(tmp_path: Path, data: bytes, error: type[DesignFileError]) -> None:
    with pytest.raises(error) as caught:
        load_outline(write(tmp_path, data, "bad.svg"))
    assert "\n" not in str(caught.value)


def test_svg_entity_expansion_bomb_is_refused(tmp_path: Path) -> None:
    entities = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8)
    )
    doc = f'<?xml version="1.0"?><!DOCTYPE svg [{entities}]><svg xmlns="http://www.w3.org/2000/svg"><text>&i;</text></svg>'
    with pytest.raises((NotAnOutlineError, EmptyOutlineError)):
        load_outline(write(tmp_path, doc.encode(), "bomb.svg"))


# --- DXF ----------------------------------------------------------------------------


def test_dxf_lines_are_joined_into_a_closed_contour(tmp_path: Path) -> None:
    def build(msp, _doc):
        corners = [(0, 0), (40, 0), (40, 20), (0, 20)]
        for a, b in zip(corners, corners[1:] + corners[:1]):
            msp.add_line(a, b)
        msp.add_line((50, 0), (60, 0))  # a stray open line

    outline = load_outline(dxf_file(tmp_path, build))
    assert outline.format is OutlineFormat.DXF and outline.units == "mm"
    assert outline.closed_paths == 1 and outline.open_paths == 1
    assert outline.cut_length_mm == pytest.approx(120.0 + 10.0)
    assert outline.bbox_extents == pytest.approx((60.0, 20.0))


def test_dxf_curves(tmp_path: Path) -> None:
    def build(msp, _doc):
        msp.add_circle((0, 0), radius=10)
        msp.add_arc((100, 0), radius=5, start_angle=0, end_angle=180)
        # a polyline with a bulge of 1 = a half circle of diameter 20 between its points
        msp.add_lwpolyline([(0, 50, 0, 0, 1), (20, 50, 0, 0, 0)], format="xyseb")

    outline = load_outline(dxf_file(tmp_path, build))
    expected = 2 * math.pi * 10 + math.pi * 5 + math.pi * 10
    assert outline.cut_length_mm == pytest.approx(expected, rel=1e-3)
    assert outline.closed_paths == 1 and outline.open_paths == 2


def test_dxf_units(tmp_path: Path) -> None:
    def build(msp, _doc):
        msp.add_lwpolyline([(0, 0), (4, 0), (4, 2), (0, 2)], close=True)

    inches = load_outline(dxf_file(tmp_path, build, insunits=1, name="in.dxf"))
    assert inches.units == "in" and inches.bbox_extents == pytest.approx((101.6, 50.8))
    unitless = load_outline(dxf_file(tmp_path, build, insunits=0, name="none.dxf"))
    assert unitless.bbox_extents == pytest.approx((4.0, 2.0))
    assert any("no usable unit" in w for w in unitless.warnings)


def test_dxf_declaring_metres_for_a_mm_drawing_is_read_as_mm(tmp_path: Path) -> None:
    def build(msp, _doc):
        msp.add_lwpolyline([(0, 0), (205, 0), (205, 50), (0, 50)], close=True)

    outline = load_outline(dxf_file(tmp_path, build, insunits=6))
    assert outline.units == "m"
    assert outline.bbox_extents == pytest.approx((205.0, 50.0))
    assert any("read as mm" in w for w in outline.warnings)

    # a small drawing in metres is believed
    def small(msp, _doc):
        msp.add_lwpolyline([(0, 0), (0.5, 0), (0.5, 0.2)], close=True)

    believed = load_outline(dxf_file(tmp_path, small, insunits=6, name="small.dxf"))
    assert believed.bbox_extents == pytest.approx((500.0, 200.0))


def test_dxf_blocks_hidden_layers_and_annotation(tmp_path: Path) -> None:
    def build(msp, doc):
        block = doc.blocks.new("HOLE")
        block.add_circle((0, 0), radius=2)
        msp.add_blockref("HOLE", (10, 10))
        msp.add_blockref("HOLE", (30, 10))
        doc.layers.add("HIDDEN").off()
        msp.add_line((0, 0), (100, 100), dxfattribs={"layer": "HIDDEN"})
        msp.add_text("label", dxfattribs={"insert": (0, 0)})

    outline = load_outline(dxf_file(tmp_path, build))
    assert outline.closed_paths == 2
    assert outline.bbox_min == pytest.approx((8.0, 8.0))
    assert outline.bbox_extents == pytest.approx((24.0, 4.0))
    assert any("1 TEXT" in w and "on hidden layers" in w for w in outline.warnings)


@pytest.mark.parametrize(
    "data",
    [b"0\nSECTION\n2\nENTITIES\n0\nLINE\n10\n1,5\n", b"0\nSECTION\n2\nHEADER\n0\nENDSEC\n0\nEOF\n"],
)
def test_dxf_errors(tmp_path: Path, data: bytes) -> None:
    with pytest.raises((NotAnOutlineError, EmptyOutlineError)) as caught:
        load_outline(write(tmp_path, data, "bad.dxf"))
    assert "\n" not in str(caught.value)


def test_to_dict_is_json_without_points(tmp_path: Path) -> None:
    outline = load_outline(write(tmp_path, svg('<rect width="10" height="10"/>')))
    data = json.loads(json.dumps(outline.to_dict(), allow_nan=False))
    assert data == {
        "format": "svg",
        "paths": 1,
        "points": 4,
        "bbox_min": pytest.approx([0.0, 40.0]),
        "bbox_extents": pytest.approx([10.0, 10.0]),
        "cut_length_mm": pytest.approx(40.0),
        "closed_paths": 1,
        "open_paths": 0,
        "units": "mm",
        "warnings": [],
    }


# --- joining pieces -------------------------------------------------------------------


def test_join_pieces_reverses_and_closes() -> None:
    a = np.array([[0.0, 0.0], [1.0, 0.0]])
    b = np.array([[1.0, 1.0], [1.0, 0.0]])  # stored backwards
    c = np.array([[1.0, 1.0], [0.0, 0.0]])
    ((points, closed),) = join_pieces([(a, False), (b, False), (c, False)])
    assert closed and len(points) == 3


def test_join_pieces_extends_backwards() -> None:
    middle = np.array([[1.0, 0.0], [2.0, 0.0]])
    first = np.array([[0.0, 0.0], [1.0, 0.0]])
    ((points, closed),) = join_pieces([(middle, False), (first, False)])
    assert not closed
    assert points.tolist() == [[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]


def test_outline_points_are_read_only(tmp_path: Path) -> None:
    outline = load_outline(write(tmp_path, svg('<rect width="10" height="10"/>')))
    with pytest.raises(ValueError):
        outline.paths[0].points[0, 0] = 99.0
