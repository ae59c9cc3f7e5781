"""The catalog's and the city figures' settings are nested in the one `Settings`
(`settings.catalog`, `settings.city`) and keep their documented variable names."""

from __future__ import annotations

import pytest

from hub.config import Settings


def test_nested_groups_read_their_documented_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    variables = {
        "COFAB_CATALOG_MAX_FACES": "1234",
        "COFAB_CATALOG_MAX_TEXT_MESH_BYTES": "4096",
        "COFAB_CATALOG_UPLOAD_TTL_S": "60",
        "COFAB_CATALOG_MAX_MANIFEST_BYTES": "999",
        "COFAB_CITY_RADIUS_KM": "3.5",
        "COFAB_CITY_BASELINE_KM": "500",
        "COFAB_CITY_EMISSION_KG_PER_TKM": "0.2",
        "COFAB_CITY_DISTRICT_MODE": "grid",
        "COFAB_CITY_GRID_DEG": "0.1",
        "COFAB_CITY_PRIVACY_GRID_DEG": "0.02",
        "COFAB_UPLOAD_MAX_BYTES": "777",
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    catalog, city = settings.catalog, settings.city
    assert (catalog.max_faces, catalog.max_text_mesh_bytes, catalog.upload_ttl_s, catalog.max_manifest_bytes) == (
        1234,
        4096,
        60.0,
        999,
    )
    assert city.assumptions().as_dict() == {
        "radius_km": 3.5,
        "baseline_km": 500.0,
        "emission_kg_per_tkm": 0.2,
        "district_mode": "grid",
        "grid_deg": 0.1,
        "privacy_grid_deg": 0.02,
    }
    assert settings.upload_max_bytes == 777


def test_defaults_without_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("COFAB_CATALOG_MAX_FACES", "COFAB_CITY_RADIUS_KM"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.catalog.max_faces == 5_000_000
    assert settings.city.radius_km == 10.0


def test_a_bad_value_is_refused_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COFAB_CITY_RADIUS_KM", "0")
    with pytest.raises(ValueError, match="radius_km"):
        Settings()
