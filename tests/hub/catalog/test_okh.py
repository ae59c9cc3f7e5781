"""Open Know-How: real manifests from the corpus parse; import with staged files; export has
every OKH-LOSH required field; import -> export -> import keeps what matters; malformed or
hostile manifests are refused and store nothing."""

from __future__ import annotations

import tomllib

import pytest

from hub.catalog.okh import REQUIRED_LOSH_FIELDS, ManifestRejected, parse_manifest
from tests.factories import bearer, cube, publish_design, stage_upload
from tests.hub.catalog.conftest import CORPUS, corpus_file, stored

TOML = {"Content-Type": "application/toml"}
YAML = {"Content-Type": "application/yaml"}


def _import(api, token, manifest: bytes | str, uploads=(), headers=TOML, **params):
    data = manifest.encode() if isinstance(manifest, str) else manifest
    return api.post(
        "/api/v1/designs/import/okh",
        content=data,
        headers={**bearer(token), **headers},
        params={"upload": [u["id"] for u in uploads], **params},
    )


def _export(api, token, design_id, number=1) -> dict:
    response = api.get(f"/api/v1/designs/{design_id}/versions/{number}/okh.toml", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/toml")
    manifest = tomllib.loads(response.text)
    missing = [f for f in REQUIRED_LOSH_FIELDS if not manifest.get(f)]
    assert not missing, f"exported manifest lacks required fields {missing}: {response.text}"
    return manifest


def _corpus_manifests():
    folder = CORPUS / "okh"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@pytest.mark.parametrize("name", _corpus_manifests() or ["(corpus absent)"])
def test_corpus_manifests_parse(name):
    path = corpus_file(f"okh/{name}")
    plan = parse_manifest(path.read_bytes())
    assert plan.title and plan.licensors
    assert plan.dialect == ("okh-v1" if name.endswith(".yml") else "losh")


def test_losh_manifest_import_export_round_trip(api, tokens):
    raw = corpus_file("okh/losh-dummy-mosh-a_okh.toml").read_bytes()
    clamp = stage_upload(api, tokens["designer"], cube(28), "ClampRing.stl").json()
    response = _import(api, tokens["designer"], raw, [clamp])
    assert response.status_code == 201, response.text
    design = response.json()
    assert design["title"] == "LOSH Dummy MOSH-A"
    assert design["licence"] == "CERN-OHL-S-2.0" and design["authors"] == ["Martin Häuer"]
    assert design["description"] == "Doesn't do much, yet."
    assert design["versions"][0]["label"] == "1.0.2"
    assert [(f["part_name"], f["filename"], f["quantity"]) for f in design["files"]] == [
        ("Clamp Ring", "ClampRing.stl", 1)
    ]
    assert design["process"] == "FDM" and design["materials"] == ["PLA"]

    exported = _export(api, tokens["maker"], design["id"])
    assert exported["name"] == "LOSH Dummy MOSH-A" and exported["version"] == "1.0.2"
    assert exported["license"] == "CERN-OHL-S-2.0" and exported["licensor"] == "Martin Häuer"
    assert exported["repo"] == "https://github.com/OPEN-NEXT/LOSH-dummy-MOSH-A"
    assert exported["documentation-language"] == "en-GB"
    assert exported["part"] == [
        {"name": "Clamp Ring", "export": ["ClampRing.stl"], "quantity": 1, "tsdc": "3DP", "material": "PLA"}
    ]

    again = _import(
        api,
        tokens["designer"],
        api.get(f"/api/v1/designs/{design['id']}/versions/1/okh.toml", headers=bearer(tokens["maker"])).content,
        [clamp],
    )
    assert again.status_code == 201, again.text
    copy = again.json()
    for key in ("title", "description", "licence", "authors", "process", "materials"):
        assert copy[key] == design[key], key
    assert [(f["part_name"], f["sha256"], f["quantity"]) for f in copy["files"]] == [
        (f["part_name"], f["sha256"], f["quantity"]) for f in design["files"]
    ]
    assert _export(api, tokens["maker"], copy["id"]) == exported


def test_planktoscope_manifest_with_an_outline_part(api, tokens):
    raw = corpus_file("okh/planktoscope_okh.toml").read_bytes()
    dxf = stage_upload(
        api, tokens["designer"], corpus_file("dxf/voron2_250_Deck_Panel.dxf").read_bytes(), "PlanktoScope-Case.dxf"
    ).json()
    assert dxf["kind"] == "outline"
    response = _import(api, tokens["designer"], raw, [dxf])
    assert response.status_code == 201, response.text
    design = response.json()
    assert design["process"] == "CNC" and design["files"][0]["kind"] == "outline"
    assert design["authors"][:2] == ["Thibaut Pollina", "Romain Bazile"] and len(design["authors"]) == 5
    _export(api, tokens["maker"], design["id"])


def test_manifest_without_printable_files_and_yaml_licence_override(api, tokens):
    raw = corpus_file("okh/boxfarm_okh.yml").read_bytes()
    refused = _import(api, tokens["designer"], raw, headers=YAML)
    assert refused.status_code == 422 and "'CERN OHL'" in refused.json()["detail"]
    response = _import(api, tokens["designer"], raw, headers=YAML, licence="CERN-OHL-S-2.0")
    assert response.status_code == 201, response.text
    design = response.json()
    assert design["title"] == "BoxFram" and design["tags"] == ["mobile", "farm", "off-grid", "nft", "hydrophonic"]
    assert design["authors"][0] == "Timo Nendel" and design["files"] == []
    exported = _export(api, tokens["maker"], design["id"])
    assert exported["version"] == "1.1" and exported["repo"] == "https://github.com/osegermany/BoxFarm"


def test_native_design_exports_a_valid_manifest(api, tokens):
    design = publish_design(api, tokens["designer"], title="Bracket", description="", licence="MIT").json()
    exported = _export(api, tokens["maker"], design["id"])
    assert exported["function"] == "Bracket" and exported["repo"].endswith(f"/api/v1/designs/{design['id']}")
    assert (
        api.get(f"/api/v1/designs/{design['id']}/versions/9/okh.toml", headers=bearer(tokens["maker"])).status_code
        == 404
    )


BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\ntitle: *c\n"
)


@pytest.mark.parametrize(
    ("case", "manifest", "headers", "words"),
    [
        ("not toml", 'okhv = "x"\nname = [unclosed', TOML, "not valid TOML"),
        ("invalid yaml", None, YAML, "not valid YAML"),
        ("not a mapping", "- just\n- a list\n", YAML, "mapping"),
        ("empty", "   ", TOML, "empty"),
        ("binary", b"\xff\xfe\x00garbage", TOML, "UTF-8"),
        ("no name", 'okhv = "OKH-LOSHv1.0"\nlicense = "MIT"\n', TOML, "no name"),
        ("alias bomb", BOMB, YAML, "aliases"),
        (
            "parent path",
            'okhv="1"\nname="x"\nlicense="MIT"\n[[part]]\nname="p"\nexport=["../../etc/passwd.stl"]\n',
            TOML,
            "escape",
        ),
        (
            "url path",
            'okhv="1"\nname="x"\nlicense="MIT"\n[[part]]\nname="p"\nexport=["http://evil/x.stl"]\n',
            TOML,
            "plain relative path",
        ),
        (
            "backslash path",
            'okhv="1"\nname="x"\nlicense="MIT"\n[[part]]\nname="p"\nexport=["..\\\\x.stl"]\n',
            TOML,
            "plain relative path",
        ),
        (
            "hidden file",
            'okhv="1"\nname="x"\nlicense="MIT"\n[[part]]\nname="p"\nexport=["a/.hidden.stl"]\n',
            TOML,
            "dot",
        ),
        (
            "control char",
            'okhv="1"\nname="x"\nlicense="MIT"\n[[part]]\nname="p"\nexport=["a/b\\u202e.stl"]\n',
            TOML,
            "control",
        ),
        (
            "bad quantity",
            'okhv="1"\nname="x"\nlicense="MIT"\n[[part]]\nname="p"\nexport=["p.stl"]\nquantity=-2\n',
            TOML,
            "quantity",
        ),
        ("unknown licence", 'okhv="1"\nname="x"\nlicense="Mine-1.0"\n', TOML, "not an SPDX id"),
    ],
)
def test_malformed_and_hostile_manifests_are_refused(api, tokens, case, manifest, headers, words):
    if manifest is None:
        manifest = corpus_file("broken/openflexure_okh_invalid-yaml.yml").read_bytes()
    before = stored(api)
    response = _import(api, tokens["designer"], manifest, headers=headers)
    assert response.status_code == 422, (case, response.text)
    assert words in response.json()["detail"], (case, response.json())
    assert stored(api) == before


def test_missing_and_unexpected_files_are_refused(api, tokens):
    manifest = (
        'okhv="1"\nname="Kit"\nlicense="MIT"\nlicensor="Ada"\n'
        '[[part]]\nname="A"\nexport=["parts/a.stl"]\nquantity=4\n[[part]]\nname="B"\nsource="b.3mf"\n'
    )
    a = stage_upload(api, tokens["designer"], cube(10), "a.stl").json()
    other = stage_upload(api, tokens["designer"], cube(12), "other.stl").json()
    before = stored(api)
    missing = _import(api, tokens["designer"], manifest, [a])
    assert missing.status_code == 422 and "b.3mf" in missing.json()["detail"]
    b = stage_upload(api, tokens["designer"], cube(11), "b.3mf").json()  # content decides: an STL named .3mf
    before = stored(api)
    extra = _import(api, tokens["designer"], manifest, [a, b, other])
    assert extra.status_code == 422 and "other.stl" in extra.json()["detail"]
    assert stored(api) == before
    ok = _import(api, tokens["designer"], manifest, [a, b])
    assert ok.status_code == 201, ok.text
    assert [(f["part_name"], f["quantity"]) for f in ok.json()["files"]] == [("A", 4), ("B", 1)]


def test_manifest_size_is_capped(api, tokens):
    api.app.state.services.settings.catalog.max_manifest_bytes = 1000
    response = _import(api, tokens["designer"], 'okhv="1"\nname="x"\n' + "# pad\n" * 400)
    assert response.status_code == 413


def test_parse_rejects_yaml_tags():
    with pytest.raises(ManifestRejected):
        parse_manifest(b"title: !!python/object:os.system x\n", "application/yaml")
