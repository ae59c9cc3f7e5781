"""The catalogue page's count: exact below the search's count cap, "N+" past it (never a
made-up figure), with a link on when a full page may have a next one."""

from __future__ import annotations

import re

import pytest
from sqlmodel import Session

from hub.catalog import search
from tests.factories import design_row
from tests.hub.web.test_web_session import sign_in


@pytest.fixture
def shelves(api, tokens) -> None:
    """25 designs with "shelf" in the title (one more than a page), written straight to the tables."""
    with Session(api.app.state.services.engine) as s:
        for n in range(25):
            design_row(s, f"d_shelf{n:02d}", f"Shelf part {n}", licence="MIT", created_at=float(n))
        design_row(s, "d_pin", "Shelf pin", licence="MIT", created_at=100.0)
        s.flush()
        search.index_designs(s)
        s.commit()
    sign_in(api, tokens["maker"])


def _total(html: str) -> str:
    return re.search(r'<p class="muted" id="total">([^<]*)</p>', html).group(1)


def test_an_exact_total_is_shown_as_it_is(api, shelves):
    html = api.get("/catalogue", params={"q": "shelf"}).text
    assert _total(html) == "26 designs matching “shelf”."
    assert "page 1 of 2 " in html and "older →" in html
    assert _total(api.get("/catalogue", params={"q": "pin"}).text) == "1 design matching “pin”."


def test_past_the_cap_the_total_is_a_lower_bound(api, shelves, monkeypatch):
    monkeypatch.setattr(search, "COUNT_CAP", 1_000)
    assert _total(api.get("/catalogue", params={"q": "shelf"}).text) == "26 designs matching “shelf”."
    monkeypatch.setattr(search, "COUNT_CAP", 1)
    html = api.get("/catalogue", params={"q": "shelf"}).text
    assert _total(html) == "1+ designs matching “shelf”."
    assert "older →" not in html  # two on the page: it is not full, nothing follows
    monkeypatch.setattr(search, "COUNT_CAP", 23)  # 24 to page through: a full first page
    html = api.get("/catalogue", params={"q": "shelf"}).text
    assert _total(html) == "23+ designs matching “shelf”."
    assert "page 1 of 1+" in html and "older →" in html
    assert api.get("/catalogue", params={"q": "shelf", "page": 2}).text.count('class="card design-card"') == 0
