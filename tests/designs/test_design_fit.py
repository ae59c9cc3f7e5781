"""Build-volume fit in the 6 axis-aligned orientations."""

from __future__ import annotations

import math

import pytest

from designs import FitResult, fit_in_build_volume


def test_fits_as_designed() -> None:
    result = fit_in_build_volume((20, 20, 20), (220, 220, 250))
    assert result == FitResult(
        True,
        (0, 1, 2),
        (20.0, 20.0, 20.0),
        "part 20.0 x 20.0 x 20.0 mm fits build volume 220 x 220 x 250 mm as designed",
    )


def test_quarter_turn_about_z_is_preferred() -> None:
    result = fit_in_build_volume((250, 100, 10), (200, 300, 50))
    assert result.fits
    assert result.orientation == (1, 0, 2)
    assert result.oriented_extents_mm == (100.0, 250.0, 10.0)
    assert "re-oriented" in result.reason and "its Y along machine X" in result.reason


def test_tall_part_laid_down() -> None:
    result = fit_in_build_volume((10, 10, 300), (350, 200, 200))
    assert result.fits
    assert result.oriented_extents_mm is not None
    assert result.oriented_extents_mm[0] == 300.0
    assert result.oriented_extents_mm[2] == 10.0


def test_does_not_fit() -> None:
    result = fit_in_build_volume((300.0, 300.0, 300.0), (200, 200, 200))
    assert not result.fits
    assert result.orientation is None and result.oriented_extents_mm is None
    assert result.reason == (
        "part 300.0 x 300.0 x 300.0 mm does not fit build volume 200 x 200 x 200 mm in any axis-aligned orientation"
    )


def test_exact_size_and_float_noise_fit() -> None:
    assert fit_in_build_volume((220, 220, 250), (220, 220, 250)).fits
    assert fit_in_build_volume((220.0000001, 10, 10), (220, 220, 250)).fits
    assert not fit_in_build_volume((220.01, 221, 10), (220, 220, 250)).fits


def test_diagonal_placement_is_not_considered() -> None:
    # 300 mm fits along the 311 mm diagonal of a 220 mm bed, but only axis-aligned
    # orientations are tried (arbitrary rotation is later work)
    assert not fit_in_build_volume((300, 5, 5), (220, 220, 20)).fits


def test_flat_part_with_zero_thickness() -> None:
    assert fit_in_build_volume((100, 100, 0), (220, 220, 250)).fits


@pytest.mark.parametrize(
    ("extents", "volume"),
    [
        ((1, 2), (200, 200, 200)),
        ((1, 2, 3), (200, 200)),
        ((-1, 2, 3), (200, 200, 200)),
        ((math.nan, 2, 3), (200, 200, 200)),
        ((1, 2, 3), (200, 0, 200)),
        ((1, 2, 3), (200, math.inf, 200)),
    ],
)
def test_bad_input_is_a_programming_error(extents, volume) -> None:
    with pytest.raises(ValueError):
        fit_in_build_volume(extents, volume)
