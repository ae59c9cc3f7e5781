"""Every hard check, passing and failing, with the sentence it gives."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.routing.checks import lab_checks, machine_checks
from tests.hub.routing.factories import lab, machine, spec

NOW = datetime(2026, 11, 25, 22, 0, tzinfo=UTC)  # a Wednesday, 23:00 in Madrid


def failed(checks) -> dict[str, str]:
    return {c.name: c.reason for c in checks if not c.passed}


def test_a_capable_machine_passes_everything():
    assert failed(lab_checks(lab("a"), spec(), NOW) + machine_checks(machine(), spec())) == {}


@pytest.mark.parametrize(
    ("the_lab", "name", "words"),
    [
        (lab("a", membership="pending"), "membership", "pending"),
        (lab("a", membership="inactive"), "membership", "inactive"),
        (lab("a", online=False), "online", "offline"),
    ],
)
def test_lab_checks_fail_with_reasons(the_lab, name, words):
    problems = failed(lab_checks(the_lab, spec(), NOW))
    assert name in problems and words in problems[name]


@pytest.mark.parametrize(
    ("the_machine", "the_spec", "name", "words"),
    [
        (machine(process="laser"), spec(), "process", "does laser, not FDM"),
        (machine(materials=("PETG",)), spec(), "material", "no PLA"),
        (machine(build=(200, 200, 200)), spec(size_mm=(250, 20, 20)), "fits", "does not fit"),
        (machine(queue_length=5, queue_limit=5), spec(), "queue", "queue is full"),
        (machine(colours=frozenset({"black"})), spec(colour="orange"), "colour", "no orange"),
        (machine(nozzle_mm=0.4), spec(nozzle_mm=0.6), "nozzle", "0.6"),
        (machine(eta_free_s=10 * 3600), spec(lead_time_h=4), "lead_time", "more than the 4 h"),
    ],
)
def test_machine_checks_fail_with_reasons(the_machine, the_spec, name, words):
    problems = failed(machine_checks(the_machine, the_spec))
    assert list(problems) == [name]
    assert words in problems[name]


def test_a_part_fits_in_another_orientation():
    assert failed(machine_checks(machine(build=(250, 210, 210)), spec(size_mm=(20, 240, 20)))) == {}
    assert failed(machine_checks(machine(build=(250, 210, 210)), spec(size_mm=(220, 200, 20)))) == {}
    assert "fits" in failed(machine_checks(machine(build=(250, 210, 210)), spec(size_mm=(220, 220, 20))))


def test_colour_loaded_counts_as_available():
    assert failed(machine_checks(machine(colour_loaded="Orange"), spec(colour="orange"))) == {}


def test_non_commercial_licence_is_never_a_paid_job():
    nc = spec(licence="CC-BY-NC-4.0", commercial_use_allowed=False)
    assert "licence" in failed(lab_checks(lab("a"), nc, NOW))
    assert "forbids commercial use" in failed(lab_checks(lab("a"), nc, NOW))["licence"]
    unpaid = spec(licence="CC-BY-NC-4.0", commercial_use_allowed=False, paid=False)
    assert failed(lab_checks(lab("a"), unpaid, NOW)) == {}
    assert "unpaid" in failed(lab_checks(lab("a", accepts_unpaid=False), unpaid, NOW))["licence"]


def test_opening_hours_within_the_lead_time():
    weekdays = lab("a", opening_hours="Mo-Fr 10:00-18:00", timezone="Europe/Madrid")
    # Wednesday 23:00 in Madrid: closed now, opens Thursday 10:00, 11 h later.
    assert failed(lab_checks(weekdays, spec(lead_time_h=12), NOW)) == {}
    problems = failed(lab_checks(weekdays, spec(lead_time_h=6), NOW))
    assert "closed for the next 6 h" in problems["open"]
    assert failed(lab_checks(weekdays, spec(lead_time_h=None), NOW)) == {}


def test_unreadable_opening_hours_are_reported():
    problems = failed(lab_checks(lab("a", opening_hours="whenever we feel like it"), spec(lead_time_h=5), NOW))
    assert "cannot be read" in problems["open"]
