"""The licence table: the ids in REQUIRED are known with the right terms, spelling is
forgiven only where it is unambiguous, and unknown ids are refused with the list."""

from __future__ import annotations

import pytest

from hub.catalog.licences import LICENCES, UnknownLicence, licence_terms, normalise_licence_id
from tests.factories import bearer, publish_design
from tests.hub.catalog.conftest import stored

REQUIRED = [
    "CC0-1.0",
    "CC-BY-4.0",
    "CC-BY-SA-4.0",
    "CC-BY-NC-4.0",
    "CC-BY-NC-SA-4.0",
    "CC-BY-ND-4.0",
    "CC-BY-NC-ND-4.0",
    "CERN-OHL-P-2.0",
    "CERN-OHL-W-2.0",
    "CERN-OHL-S-2.0",
    "TAPR-OHL-1.0",
    "GPL-2.0-only",
    "GPL-2.0-or-later",
    "GPL-3.0-only",
    "GPL-3.0-or-later",
    "LGPL-3.0",
    "MIT",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "Apache-2.0",
    "AGPL-3.0",
    "MPL-2.0",
    "Unlicense",
    "GPL-2.0",
    "GPL-3.0",
]


@pytest.mark.parametrize("spdx", REQUIRED)
def test_every_required_licence_is_known(spdx):
    assert licence_terms(spdx).id == spdx


@pytest.mark.parametrize(
    ("spdx", "commercial", "share_alike", "no_derivatives"),
    [
        ("CC0-1.0", True, False, False),
        ("CC-BY-SA-4.0", True, True, False),
        ("CC-BY-NC-4.0", False, False, False),
        ("CC-BY-NC-SA-4.0", False, True, False),
        ("CC-BY-ND-4.0", True, False, True),
        ("CC-BY-NC-ND-4.0", False, False, True),
        ("CERN-OHL-S-2.0", True, True, False),
        ("CERN-OHL-P-2.0", True, False, False),
        ("GPL-3.0", True, True, False),
        ("MIT", True, False, False),
    ],
)
def test_terms(spdx, commercial, share_alike, no_derivatives):
    terms = licence_terms(spdx)
    assert (terms.commercial_use_allowed, terms.share_alike, terms.no_derivatives) == (
        commercial,
        share_alike,
        no_derivatives,
    )


def test_kinds_are_set():
    assert licence_terms("CERN-OHL-W-2.0").kind == "hardware"
    assert licence_terms("CC-BY-4.0").kind == "documentation"
    assert licence_terms("MIT").kind == "software"
    assert all(t.id in t.remix_licences for t in LICENCES.values() if t.share_alike)


def test_spelling_is_forgiven_only_where_unambiguous():
    assert normalise_licence_id("cc-by-sa 4.0") == "CC-BY-SA-4.0"
    assert normalise_licence_id(" cern-ohl-s-2.0 ") == "CERN-OHL-S-2.0"
    assert normalise_licence_id("GPL-3.0+") == "GPL-3.0-or-later"
    for ambiguous in ("CERN OHL", "GPL", "CC BY", "proprietary", ""):
        with pytest.raises(UnknownLicence) as caught:
            normalise_licence_id(ambiguous)
        assert "CERN-OHL-S-2.0" in str(caught.value)  # the hint lists the known ids


def test_unknown_licence_is_refused_with_the_list_and_nothing_is_stored(api, tokens):
    before = stored(api)
    response = publish_design(api, tokens["designer"], licence="Some-Custom-Licence", expect=422)
    assert "unknown licence" in response.text and "CERN-OHL-S-2.0" in response.text
    assert stored(api) == before


def test_licences_endpoint_lists_terms(api, tokens):
    listed = api.get("/api/v1/licences", headers=bearer(tokens["maker"])).json()
    by_id = {entry["id"]: entry for entry in listed}
    assert by_id["CC-BY-NC-4.0"]["commercial_use_allowed"] is False
    assert set(REQUIRED) <= set(by_id)


def test_design_shows_its_licence_terms(api, tokens):
    design = publish_design(api, tokens["designer"], licence="cc-by-nc-sa-4.0").json()
    assert design["licence"] == "CC-BY-NC-SA-4.0"
    assert design["licence_terms"]["commercial_use_allowed"] is False
    assert design["licence_terms"]["share_alike"] is True
