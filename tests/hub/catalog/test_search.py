"""Search: full text over title, description and tags, filters, pagination with a total."""

from __future__ import annotations

import pytest
import trimesh

from cofab.devstack.samples import stl_bytes
from hub.catalog import search
from tests.factories import bearer, publish_design, stage_upload

_FIELDS = ("description", "tags", "licence", "materials", "process")
# key: title, box extents (mm), then the form fields above in order (those left off are not sent); oldest first
_CATALOGUE = {
    "bracket": ("Shelf bracket", (40, 20, 60), "Holds a pine shelf", "furniture,wall", "CERN-OHL-S-2.0", "PETG"),
    "hook": ("Coat hook", (15, 30, 80), "A strong hook for the wall, beside a shelf", "Furniture", "CC-BY-NC-4.0"),
    "gear": ("Große Zahnrad", (120, 120, 10), "Spur gear, module 2", "mechanics", "MIT", "PLA,Nylon"),
    "panel": ("Deck panel", (250, 3, 250), "Laser-cut deck", "printer", "CC-BY-SA-4.0", "acrylic 3mm", "laser"),
}


@pytest.fixture
def catalogue(api, tokens):
    def add(title, size, *values):
        params = dict(zip(_FIELDS, values, strict=False))
        mesh = trimesh.creation.box(extents=size)
        return publish_design(api, tokens["designer"], stl_bytes(mesh), title=title, **params).json()["id"]

    return {key: add(*row) for key, row in _CATALOGUE.items()}


def _search(api, tokens, **params):
    response = api.get("/api/v1/designs", params=params, headers=bearer(tokens["maker"]))
    assert response.status_code == 200, response.text
    return response.json()


def _ids(page):
    return [item["id"] for item in page["items"]]


def test_no_filters_lists_everything_newest_first(api, tokens, catalogue):
    page = _search(api, tokens)
    assert page["total"] == 4
    assert _ids(page) == [catalogue[k] for k in ("panel", "gear", "hook", "bracket")]


def test_full_text_over_title_description_and_tags(api, tokens, catalogue):
    assert _ids(_search(api, tokens, q="bracket")) == [catalogue["bracket"]]
    assert _ids(_search(api, tokens, q="pine")) == [catalogue["bracket"]]  # description
    assert _ids(_search(api, tokens, q="GROSSE")) == [] and _ids(_search(api, tokens, q="große")) == [catalogue["gear"]]
    assert set(_ids(_search(api, tokens, q="furniture"))) == {catalogue["bracket"], catalogue["hook"]}  # tags
    assert _ids(_search(api, tokens, q="brack shel")) == [catalogue["bracket"]]  # prefixes, all words
    assert _ids(_search(api, tokens, q="zahn")) == [catalogue["gear"]]
    assert _search(api, tokens, q="submarine")["total"] == 0
    # Query syntax is inert: quotes, stars, OR and comment marks are words like any other, so
    # no design matches them, and they neither widen nor break a search for a real word.
    assert _search(api, tokens, q="\"*' OR 1=1 --")["total"] == 0
    assert _ids(_search(api, tokens, q="bracket*")) == [catalogue["bracket"]]
    assert _ids(_search(api, tokens, q='"bracket" --')) == [catalogue["bracket"]]


def test_title_outranks_description(api, tokens, catalogue):
    # "shelf" is in the bracket's title and the (newer) hook's description
    assert _ids(_search(api, tokens, q="shelf")) == [catalogue["bracket"], catalogue["hook"]]
    # "wall" is a tag of the bracket and in the hook's description: tags weigh more
    assert _ids(_search(api, tokens, q="wall")) == [catalogue["bracket"], catalogue["hook"]]


def test_filters(api, tokens, catalogue):
    assert _ids(_search(api, tokens, process="laser")) == [catalogue["panel"]]
    assert _ids(_search(api, tokens, licence="mit")) == [catalogue["gear"]]
    assert catalogue["hook"] not in _ids(_search(api, tokens, commercial_use="true"))
    assert _ids(_search(api, tokens, commercial_use="false")) == [catalogue["hook"]]
    assert _ids(_search(api, tokens, material="nylon")) == [catalogue["gear"]]
    assert _ids(_search(api, tokens, tag="wall")) == [catalogue["bracket"]]
    assert _ids(_search(api, tokens, q="furniture", commercial_use="true")) == [catalogue["bracket"]]


def test_fits_uses_every_orientation(api, tokens, catalogue):
    small = set(_ids(_search(api, tokens, fits="60x40x20")))  # bracket 40x20x60 fits turned
    assert small == {catalogue["bracket"]}
    assert catalogue["hook"] in _ids(_search(api, tokens, fits="80x30x15"))
    assert catalogue["panel"] not in _ids(_search(api, tokens, fits="200x200x200"))
    assert catalogue["panel"] in _ids(_search(api, tokens, fits="250×250×3"))
    for bad in ("200x200", "axbxc", "0x10x10", "-1x5x5"):
        assert api.get("/api/v1/designs", params={"fits": bad}, headers=bearer(tokens["maker"])).status_code == 422


def test_fits_considers_every_part(api, tokens):
    small = stage_upload(api, tokens["designer"], stl_bytes(trimesh.creation.box(extents=(10, 10, 10))), "s.stl").json()
    long = stage_upload(api, tokens["designer"], stl_bytes(trimesh.creation.box(extents=(5, 5, 190))), "l.stl").json()
    design = api.post(
        "/api/v1/designs",
        headers=bearer(tokens["designer"]),
        json={"title": "Kit", "parts": [{"upload_id": small["id"], "quantity": 3}, {"upload_id": long["id"]}]},
    ).json()
    assert design["id"] in _ids(_search(api, tokens, fits="200x20x20"))
    assert design["id"] not in _ids(_search(api, tokens, fits="180x180x180"))


def test_pagination_with_total(api, tokens, catalogue):
    first = _search(api, tokens, limit=3)
    second = _search(api, tokens, limit=3, offset=3)
    assert first["total"] == second["total"] == 4
    assert len(first["items"]) == 3 and len(second["items"]) == 1
    assert not set(_ids(first)) & set(_ids(second))


def test_unknown_licence_filter_is_a_422(api, tokens, catalogue):
    response = api.get("/api/v1/designs", params={"licence": "nope"}, headers=bearer(tokens["maker"]))
    assert response.status_code == 422 and "CC0-1.0" in response.json()["detail"]


def test_renamed_designs_are_found_by_their_new_title(api, tokens, catalogue):
    api.patch(
        f"/api/v1/designs/{catalogue['gear']}",
        json={"title": "Spur wheel", "tags": ["gearbox"]},
        headers=bearer(tokens["designer"]),
    )
    assert _ids(_search(api, tokens, q="wheel gearbox")) == [catalogue["gear"]]
    assert _search(api, tokens, q="zahnrad")["total"] == 0


# --- the capped count (COUNT_CAP lowered so four designs pass it) ------------------------------


def test_total_is_exact_below_the_cap(api, tokens, catalogue):
    page = _search(api, tokens, q="s")  # shelf, strong, spur: bracket, hook, gear
    assert (page["total"], page["total_exact"]) == (3, True)
    assert _search(api, tokens, offset=10) == {
        "total": 4,
        "total_exact": True,
        "limit": 50,
        "offset": 10,
        "items": [],
    }  # past the end the total still comes back
    assert _search(api, tokens, q="submarine")["total_exact"] is True


def test_past_the_cap_the_total_is_a_flagged_lower_bound(api, tokens, catalogue, monkeypatch):
    monkeypatch.setattr(search, "COUNT_CAP", 2)
    page = _search(api, tokens, q="s")
    assert (page["total"], page["total_exact"]) == (2, False)
    exactly = _search(api, tokens, q="furniture")  # two matches: at the cap, still exact
    assert (exactly["total"], exactly["total_exact"]) == (2, True)
    listing = _search(api, tokens, process="FDM")
    assert (listing["total"], listing["total_exact"]) == (2, False)


def test_past_the_cap_text_ranks_the_most_recently_indexed_matches(api, tokens, catalogue, monkeypatch):
    monkeypatch.setattr(search, "COUNT_CAP", 1)  # a window of the 2 most recently indexed matches
    assert set(_ids(_search(api, tokens, q="s"))) == {catalogue["hook"], catalogue["gear"]}
    api.patch(
        f"/api/v1/designs/{catalogue['bracket']}",
        json={"title": "Shelf bracket, stronger"},
        headers=bearer(tokens["designer"]),
    )  # edited: indexed again, now the most recent
    assert set(_ids(_search(api, tokens, q="s"))) == {catalogue["bracket"], catalogue["gear"]}
    assert _ids(_search(api, tokens, q="s", offset=2)) == []  # nothing is paged to past the window


def test_paging_past_the_cap(api, tokens, catalogue, monkeypatch):
    monkeypatch.setattr(search, "COUNT_CAP", 1)  # a window of 2
    page = _search(api, tokens, limit=1, offset=3)  # no parameter: every design can be paged to
    assert (page["total"], page["total_exact"]) == (1, False)
    assert _ids(page) == [catalogue["bracket"]]  # the oldest, fourth newest
    fdm = _search(api, tokens, process="FDM", limit=1, offset=1)  # a filter: the 2 newest of 3 FDM
    assert (fdm["total"], fdm["total_exact"], _ids(fdm)) == (1, False, [catalogue["hook"]])
    assert _ids(_search(api, tokens, process="FDM", offset=2)) == []
    assert _ids(_search(api, tokens, process="FDM", offset=1)) == [catalogue["hook"]]  # a page cut at the window


def test_the_api_documents_the_cap(api):
    schema = api.get("/openapi.json").json()
    page = schema["components"]["schemas"]["DesignPage"]["properties"]
    assert "total_exact" in page and "lower bound" in page["total_exact"]["description"]
    description = schema["paths"]["/api/v1/designs"]["get"]["description"]
    assert f"{search.COUNT_CAP:,}+" in description and "total_exact" in description
