"""File names: refused, never rewritten (the hub answers 4xx and stores nothing)."""

from __future__ import annotations

import unicodedata

import pytest

from designs import DesignFileError, UnsafeFilenameError, check_filename


@pytest.mark.parametrize(
    "name",
    ["bracket.stl", "Halterung für Rohr v2.3mf", "ギア.obj", "part (1).STL", "a" * 251 + ".stl", "v1.2.3-final.stl"],
)
def test_plain_names_are_kept(name: str) -> None:
    assert check_filename(name) == name


def test_names_are_nfc_normalised() -> None:
    decomposed = "cafe\u0301.stl"
    assert check_filename(decomposed) == "café.stl"
    assert unicodedata.is_normalized("NFC", check_filename(decomposed))


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "empty"),
        ("parts/bracket.stl", "path separator"),
        ("/etc/passwd", "path separator"),
        ("..\\..\\boot.ini", "path separator"),
        ("C:\\part.stl", "path separator"),
        ("..", "'..'"),
        ("part..stl", "'..'"),
        (".hidden.stl", "starts with a dot"),
        (".", "starts with a dot"),
        ("part\x00.stl", "control character"),
        ("part\n.stl", "control character"),
        ("\x1b[31mred.stl", "control character"),
        ("part\u202eltS.exe", "control character"),
        ("part\u2028.stl", "control character"),
        (" part.stl", "space"),
        ("part.stl ", "space"),
        ("a" * 252 + ".stl", "256 bytes"),
        ("é" * 128, "256 bytes"),
    ],
)
def test_unsafe_names_are_refused(name: str, why: str) -> None:
    with pytest.raises(UnsafeFilenameError, match=why) as caught:
        check_filename(name)
    assert isinstance(caught.value, DesignFileError) and isinstance(caught.value, ValueError)
    message = str(caught.value)
    assert "\n" not in message and "\x00" not in message and "\x1b" not in message


def test_non_string_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        check_filename(b"part.stl")  # type: ignore[arg-type]
