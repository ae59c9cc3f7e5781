"""Each face's main path in headless Chromium, against a real network: a hub process with its
own Mosquitto, node agents, OctoPrint virtual printers, PrusaSlicer on the nodes.

One network serves the module. The maker's and the lab's orders complete on the virtual
printers; the city test then reads the figures of exactly those jobs off its dashboard and
downloads them. Screenshots go to artifacts/screenshots/ (not committed).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from cofab.devstack.network import LabSpec, LocalNetwork
from cofab.devstack.samples import box, open_box, stl_bytes
from hub.web.charts import fmt
from tests.browser.conftest import Faces, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.integration]

EAST = LabSpec("lab-east", "Lab East", "Barcelona", 41.3969, 2.1945)
MANUAL = LabSpec("lab-manual", "Lab Manual", "Badalona", 41.4500, 2.2470, auto_accept=False)
NEAR_EAST = (41.4036, 2.1744)
NEAR_MANUAL = (41.4480, 2.2450)
DONE_MS = 150_000  # an order's whole life on a virtual printer, generous for a loaded machine


@pytest.fixture(scope="module")
def network(tmp_path_factory) -> LocalNetwork:
    with LocalNetwork(tmp_path_factory.mktemp("browser-network"), [EAST, MANUAL], offer_timeout_s=90) as net:
        yield net


@pytest.fixture(scope="module")
def tokens(network) -> dict[str, str]:
    tokens = {role: network.issue_token(role, f"Browser {role}") for role in ("designer", "maker", "city")}
    tokens["lab"] = network.lab_client(MANUAL.node_id).headers["authorization"].split(" ", 1)[1]
    tokens["admin"] = network.admin_token
    return tokens


@pytest.fixture(scope="module")
def faces(browser, network) -> Faces:
    return Faces(browser, network.hub_url)


@pytest.fixture(scope="module")
def cube(network, tokens) -> dict:
    """A design in the catalogue for the maker to find."""
    response = network.client(tokens["designer"]).post(
        "/api/v1/designs",
        content=stl_bytes(box((24, 18, 8))),
        params={
            "filename": "cube.stl",
            "title": "Browser test cube",
            "tags": "calibration",
            "licence": "CERN-OHL-P-2.0",
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def completed_jobs(network) -> list[dict]:
    orders = network.client(network.admin_token).get("/api/v1/orders", params={"limit": 200}).json()
    return [job for order in orders for job in order["jobs"] if job["status"] == "completed"]


def test_designer_publishes_and_sees_the_analysis(faces, network, tokens):
    with faces.open(tokens["designer"]) as page:
        page.goto("/designer/publish")
        # a leaky mesh first: the analysis says why it is not printable
        page.set_input_files(
            "#file", files=[{"name": "leaky.stl", "mimeType": "model/stl", "buffer": stl_bytes(open_box(20))}]
        )
        page.wait_for_selector("#analysis:not([hidden])")
        assert page.text_content("#verdict") == "not_printable"
        assert "not watertight" in page.text_content("#warnings")
        assert "repaired copy" in page.text_content("#warnings")
        # then the real part
        page.set_input_files(
            "#file", files=[{"name": "bracket.stl", "mimeType": "model/stl", "buffer": stl_bytes(box((30, 20, 8)))}]
        )
        page.wait_for_function("() => document.getElementById('verdict').textContent === 'printable'")
        assert page.eval_on_selector("#upload-progress", "e => e.value") == 100
        assert "30.0 × 20.0 × 8.0 mm" in page.text_content("#analysis-facts")
        assert "No warnings" in page.text_content("#warnings")
        page.fill("input[name=title]", "Browser bracket")
        page.fill("input[name=tags]", "bracket, shelf")
        screenshot(page, "designer-publish")
        page.click("#publish-button")
        page.wait_for_url("**/designs/d_*")
        assert page.text_content("#design-title") == "Browser bracket"
        page.wait_for_selector("#viewer[data-state]", state="attached")
        assert page.get_attribute("#viewer", "data-state") == "rendered"  # WebGL draws the GLB
        assert page.get_attribute("#viewer", "data-triangles") == "12"
        page.goto("/designer")
        assert "Browser bracket" in page.text_content("#my-designs")
        screenshot(page, "designer")


def test_maker_finds_a_design_quotes_orders_and_sees_it_completed_live(faces, network, tokens, cube):
    with faces.open(tokens["maker"]) as page:
        page.goto("/catalogue")
        page.fill("#q", "cube")
        page.press("#q", "Enter")
        page.wait_for_url("**/catalogue?q=cube")
        card = page.locator(".design-card", has_text="Browser test cube")
        assert card.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")  # thumbnail loaded
        screenshot(page, "maker-catalogue")
        card.locator("h2 a").click()
        page.wait_for_url(f"**/designs/{cube['id']}")
        assert "CERN-OHL-P-2.0" in page.text_content("#licence")
        # a click on the map sets the place; then the exact coordinates are typed in
        before = page.input_value("#lat")
        page.click("#quote-map", position={"x": 40, "y": 40})
        assert page.input_value("#lat") != before
        page.fill("#lat", str(NEAR_EAST[0]))
        page.fill("#lon", str(NEAR_EAST[1]))
        page.click("#quote-button")
        best = page.wait_for_selector(".quote.best")
        assert "Lab East" in best.text_content() and best.get_attribute("data-node") == "lab-east"
        for line in ("Material", "Machine time", "Labour", "Designer's share", "Cooperative fee", "g printed"):
            assert line in best.text_content(), line
        api_quote = (
            network.client(tokens["maker"])
            .post(
                "/api/v1/quotes",
                json={
                    "design_id": cube["id"],
                    "material": "PLA",
                    "quantity": 1,
                    "lat": NEAR_EAST[0],
                    "lon": NEAR_EAST[1],
                },
            )
            .json()
        )
        top = api_quote["parts"][0]["candidates"][0]
        assert f"{top['distance_km']:.1f} km from you" in best.text_content()
        assert page.text_content("#quote-total").startswith(f"{api_quote['total_best']:.2f}")
        assert page.locator("#quote-map .lab.chosen").count() == 1
        screenshot(page, "maker-quote")
        page.click("#order-button")
        page.wait_for_url("**/orders/o_*")
        order_id = page.url.rsplit("/", 1)[1]
        page.evaluate("window.__sameDocument = true")
        page.wait_for_function(
            "() => document.getElementById('order-status').textContent === 'completed'", timeout=DONE_MS
        )
        # the page was never reloaded: every change arrived over the event stream
        assert page.evaluate("window.__sameDocument") is True
        assert "Lab East" in page.text_content("#pickup")
        events = page.text_content("#events")
        assert "running" in events and "part made at lab-east" in events
        screenshot(page, "maker-order")
    job = network.client(tokens["maker"]).get(f"/api/v1/orders/{order_id}").json()["jobs"][0]
    assert network.octoprint("lab-east").started_prints().get(f"{job['id']}.gcode") == 1


def test_lab_accepts_an_offer_in_its_console(faces, network, tokens, cube):
    order = network.client(tokens["maker"]).post(
        "/api/v1/orders",
        json={"design_id": cube["id"], "material": "PLA", "quantity": 1, "lat": NEAR_MANUAL[0], "lon": NEAR_MANUAL[1]},
    )
    assert order.status_code == 201, order.text
    [job_id] = order.json()["job_ids"]
    view = network.client(tokens["maker"]).get(order.headers["Location"]).json()
    assert view["jobs"][0]["node_id"] == "lab-manual"
    with faces.open(tokens["lab"]) as page:
        page.goto("/lab")
        # the offer appears once the node has fetched and checked the file (pushed, no reload)
        offer = page.wait_for_selector(
            f".offer[data-job='{job_id}'][data-status='awaiting_acceptance']", timeout=60_000
        )
        text = offer.text_content()
        assert "Browser test cube" in text and "verdict printable" in text
        assert "material" in text and "fit" in text  # the match checks, by name
        assert page.locator("#machines .machine").count() == 1
        screenshot(page, "lab-console")
        offer.query_selector("button.accept").click()
        page.wait_for_selector(f"#history tr[data-job='{job_id}'][data-status='completed']", timeout=DONE_MS)
        assert page.text_content("#earn-total") != "0.00"
        screenshot(page, "lab-history")
    assert network.octoprint("lab-manual").started_prints().get(f"{job_id}.gcode") == 1


def test_city_dashboard_shows_the_completed_jobs_and_exports_them(faces, network, tokens, cube, tmp_path):
    jobs = completed_jobs(network)
    assert len(jobs) >= 1, "the maker and lab tests complete parts before this one"
    mass_kg = sum(j["price"]["basis"]["mass_g"] for j in jobs) / 1000
    hours = sum(j["price"]["basis"]["print_hours"] for j in jobs)
    with faces.open(tokens["city"]) as page:
        page.goto("/city")
        assert page.text_content("#kpi-parts") == str(len(jobs))
        assert page.text_content("#kpi-kg") == fmt(round(mass_kg, 6))
        assert page.text_content("#kpi-hours") == fmt(round(hours, 4))
        assert page.text_content("#kpi-labs") == str(len({j["node_id"] for j in jobs}))
        assert page.text_content("#a-baseline") == "1,000 km"
        assert "0.1 kg CO2e per tonne-km" in page.text_content("#a-factor")
        assert "CO2e avoided = Σ over parts" in page.text_content("#co2-formula")
        page.wait_for_selector("#city-map[data-state='drawn']")
        assert page.locator("#city-map .lab-mark").count() == 2
        assert page.locator("#city-map line.flow").count() >= 1
        assert page.locator(".chart rect.bar").count() >= 4
        screenshot(page, "city")
        with page.expect_download() as download:
            page.click("#csv-part")
        rows = list(csv.DictReader(Path(download.value.path()).read_text().splitlines()))
        assert sorted(r["job_id"] for r in rows) == sorted(j["id"] for j in jobs)
        assert {r["baseline_km"] for r in rows} == {"1000.0"}
        with page.expect_download() as download:
            page.click("#geojson")
        geo = json.loads(Path(download.value.path()).read_text())
        assert {f["properties"]["node_id"] for f in geo["features"] if f["properties"]["kind"] == "lab"} == {
            "lab-east",
            "lab-manual",
        }
        assert sum(f["properties"]["parts"] for f in geo["features"] if f["properties"]["kind"] == "flow") == len(jobs)
        # a different radius changes what counts as local, and the page says which it used
        page.fill("input[name=radius_km]", "0.1")
        page.click("form.filters button[type=submit]")
        page.wait_for_url("**/city?*radius_km=0.1*")
        assert page.text_content("#a-radius") == "0.1 km"
        assert page.text_content("#kpi-orders").startswith("0 /")


def test_every_face_fits_a_phone_screen(faces, network, tokens, cube):
    order_id = network.client(tokens["maker"]).get("/api/v1/orders").json()[0]["id"]
    pages = [
        ("maker", f"/designs/{cube['id']}", "maker"),
        ("maker", f"/orders/{order_id}", "maker-order"),
        ("designer", "/designer/publish", "designer"),
        ("lab", "/lab", "lab"),
        ("city", "/city", "city"),
    ]
    for role, path, name in pages:
        with faces.open(tokens[role], phone=True) as page:
            page.goto(path)
            page.wait_for_load_state("load")
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} is {overflow} px wider than a phone"
            if name == "maker":  # nothing to order before a quote, on a phone too
                assert not page.is_visible("#order-button")
            screenshot(page, f"{name}-phone")


def test_no_page_asked_for_anything_outside_the_hub(faces):
    """Each `faces.open` already fails on an outside request; this checks they were recorded at all."""
    assert any("/static/" in url for url in faces.requests)
    assert any("/api/v1/" in url for url in faces.requests)
