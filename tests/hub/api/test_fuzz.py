"""Property-based check of the whole API with Schemathesis: every operation of the hub's own
OpenAPI, called in-process as each role (maker, designer, lab, city, admin), with inputs that
fit the schema and inputs that do not. Every answer must be no 5xx, match its documented
schema, and carry either a documented status or one of the hub's own refusals.

The short run (a few derandomized examples per operation and role) is part of the default
test command; `make fuzz` runs the same tests with `COFAB_FUZZ_EXAMPLES` examples each.

Why one hub for the module and not one per test: building a hub with a published design, a
lab and an order takes seconds; the calls pile up state (tokens, labs, uploads) in a fixed
order, and the seed is fixed, so a run is still repeatable. Why generated path parameters are
sometimes swapped for real ids: random ids stop at 404 before any deeper code runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance

from hub import errors
from hub.app import create_app
from hub.config import Settings
from tests.factories import ADMIN, bearer, design_id, issue_tokens, place_order, register_lab

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("COFAB_FUZZ_EXAMPLES", "4"))
ROLES = ("maker", "designer", "lab", "city", "admin")
LAB_ID = "fuzz-lab"


def _settings(data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir, admin_token=ADMIN, mqtt_enabled=False, public_url="http://testserver", secret_key="fuzz"
    )


class WithoutLifespan:
    """The app for Schemathesis's in-process client, minus the lifespan: the fixture's
    TestClient owns start-up and shut-down (as in every API test), so the hub's services start
    once and stop when the module ends, not at interpreter exit."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)


# The schema comes from the app itself (no network, no lifespan needed to serve it).
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", WithoutLifespan(create_app(_settings(Path("unused")))))
# The live streams send their first event at once and then only on change: one event is enough.
SCHEMA.config.max_stream_events = 1
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]

# Statuses the hub answers on purpose besides the documented ones: its domain errors
# (hub/errors.py), and 405 for a method the generator sends to a path that lacks it.
REFUSALS = {cls.status_code for cls in (errors.DomainError, *errors.DomainError.__subclasses__())} | {405}


def status_is_documented_or_a_refusal(ctx: Any, response: Any, case: schemathesis.Case) -> bool | None:
    """Status conformance where it makes sense: the schema documents only success and 422,
    while 401/403/404/409/413 are the hub's deliberate answers for every route."""
    documented = {int(code) for code in case.operation.responses.status_codes if code.isdigit()}
    if response.status_code not in documented | REFUSALS:
        raise AssertionError(f"undocumented status {response.status_code} for {case.operation.label}")
    return None


CHECKS = [not_a_server_error, response_schema_conformance, status_is_documented_or_a_refusal]


@dataclass
class FuzzHub:
    app: WithoutLifespan
    tokens: dict[str, str]
    known: dict[str, str]


@pytest.fixture(scope="module")
def fuzz_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzHub]:
    """A hub with one of everything a path can name: a design with a file, an approved lab
    that is online, a maker's order with a job."""
    app = create_app(_settings(tmp_path_factory.mktemp("fuzz") / "hub"))
    with TestClient(app) as api:
        tokens = {"admin": ADMIN}
        tokens.update(issue_tokens(api, ("designer", "maker", "city")))
        tokens["lab"] = register_lab(api, LAB_ID, 41.40, 2.17)["api_token"]
        design = design_id(api, tokens["designer"])
        version = api.get(f"/api/v1/designs/{design}/versions/1", headers=bearer(tokens["maker"])).json()
        placed = place_order(api, tokens["maker"], design)
        known = {
            "design_id": design,
            "number": "1",
            "file_id": str(version["files"][0]["id"]),
            "sha256": version["files"][0]["sha256"],
            "node_id": LAB_ID,
            "order_id": placed["id"],
            "job_id": placed["jobs"][0]["id"],
        }
        yield FuzzHub(WithoutLifespan(app), tokens, known)


def _cases(operation: schemathesis.APIOperation, known: dict[str, str]) -> st.SearchStrategy[schemathesis.Case]:
    """Valid and invalid inputs; each path parameter is either generated or a real id."""
    names = [p.name for p in operation.path_parameters if p.name in known]

    def with_ids(chosen: list[str]) -> st.SearchStrategy[schemathesis.Case]:
        fixed = {name: known[name] for name in chosen}
        return st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE, path_parameters=fixed),
            operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=fixed),
        )

    return st.lists(st.sampled_from(names), unique=True).flatmap(with_ids) if names else with_ids([])


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_every_answer_is_documented_and_no_5xx(
    fuzz_hub: FuzzHub, operation: schemathesis.APIOperation, role: str
) -> None:
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_cases(operation, fuzz_hub.known))
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(app=fuzz_hub.app, headers=bearer(fuzz_hub.tokens[role]), checks=CHECKS)

    check()
