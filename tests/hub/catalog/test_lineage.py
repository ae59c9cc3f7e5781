"""Remix lineage: the attribution chain (nearest first, each ancestor once), licence checks
on every remix, and no cycles, through the API and `attribution_chain` itself."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from hub.catalog import attribution_chain
from tests.factories import bearer, cube, publish_design
from tests.hub.catalog.conftest import stored


def _design(api, tokens, title, licence="CC-BY-4.0", remix_of=(), **params):
    return publish_design(
        api, tokens["designer"], cube(10 + len(title)), title=title, licence=licence, remix_of=list(remix_of), **params
    ).json()


def test_chain_is_nearest_first_and_deduplicated(api, tokens):
    # a diamond: base <- left, base <- right, (left, right) <- top
    base = _design(api, tokens, "Base", co_authors=["Grace"])
    left = _design(api, tokens, "Left", remix_of=[base["id"]])
    right = _design(api, tokens, "Right", remix_of=[base["id"]])
    top = _design(api, tokens, "Top", remix_of=[left["id"], right["id"]])
    chain = top["attribution"]
    assert [a["title"] for a in chain] == ["Left", "Right", "Base"]
    assert [a["depth"] for a in chain] == [1, 1, 2]
    assert chain[2]["authors"] == ["test designer", "Grace"] and chain[2]["licence"] == "CC-BY-4.0"
    assert top["remix_of"] == [left["id"], right["id"]]
    with Session(api.app.state.services.engine) as session:
        full = attribution_chain(session, top["id"], include_self=True)
    assert [a.design_id for a in full] == [top["id"], left["id"], right["id"], base["id"]]
    remixes = api.get(f"/api/v1/designs/{base['id']}/remixes", headers=bearer(tokens["maker"])).json()
    assert {r["id"] for r in remixes} == {left["id"], right["id"]}


def test_remix_of_a_no_derivatives_design_is_refused(api, tokens):
    nd = _design(api, tokens, "Sealed", licence="CC-BY-ND-4.0")
    before = stored(api)
    response = publish_design(
        api, tokens["designer"], title="Remix", licence="CC-BY-4.0", remix_of=nd["id"], expect=422
    )
    assert "no derivatives" in response.json()["detail"]
    assert stored(api) == before


@pytest.mark.parametrize(
    ("parent", "child", "ok"),
    [
        ("CC-BY-SA-4.0", "CC-BY-SA-4.0", True),
        ("CC-BY-SA-4.0", "GPL-3.0-only", True),  # CC's published one-way compatibility
        ("CC-BY-SA-4.0", "CC-BY-4.0", False),
        ("CERN-OHL-S-2.0", "CERN-OHL-P-2.0", False),
        ("CERN-OHL-S-2.0", "CERN-OHL-S-2.0", True),
        ("GPL-2.0-or-later", "GPL-3.0-or-later", True),
        ("GPL-3.0-only", "GPL-2.0-only", False),
        ("CC-BY-NC-4.0", "CC-BY-4.0", False),  # the NC term binds the remix
        ("CC-BY-NC-4.0", "CC-BY-NC-SA-4.0", True),
        ("MIT", "CERN-OHL-S-2.0", True),
    ],
)
def test_licence_compatibility(api, tokens, parent, child, ok):
    source = _design(api, tokens, "Source", licence=parent)
    before = stored(api)
    response = publish_design(api, tokens["designer"], title="Remix", licence=child, remix_of=source["id"], expect=None)
    if ok:
        assert response.status_code == 201, response.text
        assert response.json()["attribution"][0]["licence"] == parent
    else:
        assert response.status_code == 422, response.text
        assert parent in response.json()["detail"]
        assert stored(api) == before


def test_share_alike_is_checked_against_every_ancestor(api, tokens):
    grand = _design(api, tokens, "Grand", licence="CC-BY-SA-4.0")
    parent = _design(api, tokens, "Parent", licence="GPL-3.0-or-later", remix_of=[grand["id"]])
    ok = publish_design(api, tokens["designer"], title="Child", licence="GPL-3.0-only", remix_of=parent["id"])
    assert [a["title"] for a in ok.json()["attribution"]] == ["Parent", "Grand"]


def test_unknown_parent_is_refused(api, tokens):
    response = publish_design(api, tokens["designer"], title="Remix", remix_of="d_doesnotexist", expect=422)
    assert "do not exist" in response.json()["detail"]


def test_cycles_are_impossible(api, tokens):
    a = _design(api, tokens, "A")
    b = _design(api, tokens, "B", remix_of=[a["id"]])
    c = _design(api, tokens, "C", remix_of=[b["id"]])
    headers = bearer(tokens["designer"])
    for parent, words in ((c["id"], "cycle"), (b["id"], "cycle"), (a["id"], "itself")):
        before = stored(api)
        response = api.patch(f"/api/v1/designs/{a['id']}", json={"add_remix_of": [parent]}, headers=headers)
        assert response.status_code == 422, response.text
        assert words in response.json()["detail"]
        assert stored(api) == before
    assert api.get(f"/api/v1/designs/{a['id']}", headers=headers).json()["remix_of"] == []


def test_credits_can_be_added_later_but_only_by_the_owner(api, tokens):
    a = _design(api, tokens, "Forgotten inspiration")
    b = _design(api, tokens, "Later design")
    headers = bearer(tokens["designer"])
    response = api.patch(
        f"/api/v1/designs/{b['id']}", json={"add_remix_of": [a["id"]], "add_co_authors": ["Ada"]}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["attribution"][0]["design_id"] == a["id"]
    assert response.json()["authors"] == ["test designer", "Ada"]
    other = api.post(
        "/api/v1/tokens", json={"role": "designer", "name": "someone else"}, headers=bearer(tokens["admin"])
    ).json()["token"]
    denied = api.patch(f"/api/v1/designs/{a['id']}", json={"title": "mine now"}, headers=bearer(other))
    assert denied.status_code == 403
