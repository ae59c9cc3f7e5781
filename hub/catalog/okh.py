"""Open Know-How: import a design from an OKH manifest, export a version as `okh.toml`.

Two manifest dialects exist in the wild: OKH v1 (YAML: title, description, license with
hardware/documentation/software ids, licensor, version, keywords, design-files, ...) and
OKH-LOSH (TOML: okhv, name, function, license, licensor, version, repo, [[part]] tables with
source/export files, ...). Both map onto one `ManifestPlan`, which the import turns into a
design whose parts are the printable files the manifest lists.

Manifests are untrusted text: parsed with `tomllib` or PyYAML's `safe_load` only, YAML aliases
refused (an alias bomb expands exponentially when walked), paths checked before any is used
(no "..", backslashes, URLs or control characters; a leading "/" means the repository root,
as OKH-LOSH writes it), and only file base names are matched against the uploads, so nothing
in a manifest can name a place on the hub's disk.

Export writes TOML with `tomli_w` (a small, maintained writer; `tomllib` only reads).
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import tomli_w
import yaml  # type: ignore[import-untyped]  # PyYAML ships no type hints; types-PyYAML is not installed
from pydantic import ValidationError
from sqlmodel import Session, select

import designs
from hub.auth.service import Principal
from hub.catalog import flows, lineage, service
from hub.catalog.licences import UnknownLicence, known_licence_ids, normalise_licence_id
from hub.catalog.models import Design, DesignVersion, Upload
from hub.catalog.schemas import DesignMeta
from hub.errors import NotFound, Rejected

__all__ = [
    "REQUIRED_LOSH_FIELDS",
    "ManifestPlan",
    "ManifestRejected",
    "PlannedPart",
    "export_manifest",
    "import_manifest",
    "parse_manifest",
]

#: The fields OKH-LOSH v1 requires in every manifest.
REQUIRED_LOSH_FIELDS = ("okhv", "name", "repo", "version", "license", "licensor", "documentation-language", "function")
OKHV = "OKH-LOSHv1.0"
PRINTABLE = {".stl": "mesh", ".3mf": "mesh", ".obj": "mesh", ".svg": "outline", ".dxf": "outline"}
_TSDC_PROCESS = {"3DP": "FDM", "LAS": "laser", "CNC": "CNC"}
_PROCESS_TSDC = {"FDM": "3DP", "SLA": "3DP", "laser": "LAS", "CNC": "CNC"}
_TOML_TYPES = {"application/toml", "text/toml", "application/x-toml"}
_YAML_TYPES = {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"}


class ManifestRejected(Rejected):
    """The manifest cannot be imported; the message says why (422)."""


@dataclass(frozen=True)
class PlannedPart:
    name: str
    path: str
    filename: str
    quantity: int = 1
    material: str | None = None
    tsdc: str | None = None


@dataclass
class ManifestPlan:
    """What a manifest says, in catalog terms. `licence` is as written (maybe not SPDX)."""

    dialect: str
    title: str
    description: str
    licence: str | None
    licensors: list[str]
    contributors: list[str]
    version: str | None
    keywords: list[str]
    repo: str | None
    documentation_language: str
    parts: list[PlannedPart] = field(default_factory=list)


# --- parsing ---------------------------------------------------------------------------------


def parse_manifest(raw: bytes, media_type: str = "") -> ManifestPlan:
    """Parse an OKH v1 YAML or OKH-LOSH TOML manifest. Raises ManifestRejected."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ManifestRejected("the manifest is not UTF-8 text") from None
    if not text.strip():
        raise ManifestRejected("the manifest is empty")
    if media_type in _TOML_TYPES:
        data, dialect = _toml(text), "losh"
    elif media_type in _YAML_TYPES:
        data, dialect = _yaml(text), "okh-v1"
    else:
        try:
            data, dialect = _toml(text), "losh"
        except ManifestRejected:
            data, dialect = _yaml(text), "okh-v1"
    if not isinstance(data, dict):
        raise ManifestRejected("the manifest must be a table of fields (TOML) or a mapping (YAML)")
    if dialect == "losh" and "okhv" not in data and "title" in data:
        dialect = "okh-v1"  # OKH v1 fields written as TOML
    return _plan_losh(data) if dialect == "losh" else _plan_v1(data)


def _toml(text: str) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestRejected(f"the manifest is not valid TOML: {exc}") from None


def _yaml(text: str) -> Any:
    try:
        for token in yaml.scan(text):
            if isinstance(token, (yaml.AliasToken, yaml.AnchorToken, yaml.TagToken)):
                raise ManifestRejected(
                    "the YAML manifest uses anchors, aliases or tags, which cofab does not "
                    "accept (write the values out)"
                )
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ManifestRejected(f"the manifest is not valid YAML{at}: {problem}") from None


def _text(value: Any, what: str, *, limit: int = 20_000) -> str:
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list) and value and all(isinstance(v, (str, int, float)) for v in value):
        value = value[0]
    if not isinstance(value, str):
        raise ManifestRejected(f"the manifest's {what} must be text")
    return value.strip()[:limit]


def _names(value: Any, *, split_commas: bool = False) -> list[str]:
    """Person names from a string ("A, B"), a mapping with `name`, or a list of either."""
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        name = item.get("name") if isinstance(item, dict) else item
        if isinstance(name, str):
            pieces = name.split(",") if split_commas else [name]
            out += [" ".join(p.split())[:200] for p in pieces if p.strip()]
    return list(dict.fromkeys(out))


def _list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _plan_v1(data: dict) -> ManifestPlan:
    title = _text(data.get("title"), "title", limit=500)
    if not title:
        raise ManifestRejected("the OKH manifest has no title")
    licence = data.get("license") or data.get("licence")
    if isinstance(licence, dict):
        licence = licence.get("hardware") or licence.get("documentation") or licence.get("software")
    parts = []
    for entry in [*_list(data.get("design-files")), *_list(data.get("manufacturing-files"))]:
        path = entry.get("path") if isinstance(entry, dict) else entry
        if not isinstance(path, str):
            continue
        if _printable(path):
            filename = _safe_basename(path)
            name = entry.get("title") if isinstance(entry, dict) and isinstance(entry.get("title"), str) else ""
            parts.append(PlannedPart(name=(name or filename)[:200], path=path, filename=filename))
    return ManifestPlan(
        dialect="okh-v1",
        title=title,
        description=_text(data.get("description"), "description") or _text(data.get("intended-use"), "intended-use"),
        licence=_text(licence, "license", limit=64) or None,
        licensors=_names(data.get("licensor")),
        contributors=_names(data.get("contributors")),
        version=_text(data.get("version"), "version", limit=64) or None,
        keywords=[str(k) for k in _list(data.get("keywords")) if isinstance(k, (str, int, float))][:30],
        repo=_text(data.get("project-link"), "project-link", limit=500) or None,
        documentation_language=_text(data.get("documentation-language"), "documentation-language", limit=35) or "en",
        parts=_dedupe(parts),
    )


def _plan_losh(data: dict) -> ManifestPlan:
    title = _text(data.get("name"), "name", limit=500)
    if not title:
        raise ManifestRejected("the OKH-LOSH manifest has no name")
    parts = []
    for index, part in enumerate(_list(data.get("part"))):
        if not isinstance(part, dict):
            raise ManifestRejected(f"[[part]] number {index + 1} is not a table")
        paths = [p for p in [*_list(part.get("export")), *_list(part.get("source"))] if isinstance(p, str)]
        printable = [p for p in paths if _printable(p)]
        if not printable:
            continue
        path = printable[0]
        quantity = part.get("quantity", 1)
        if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= 1000:
            raise ManifestRejected(f"[[part]] {part.get('name')!r}: quantity must be a whole number from 1 to 1000")
        filename = _safe_basename(path)
        parts.append(
            PlannedPart(
                name=(_text(part.get("name"), "part name", limit=200) or filename),
                path=path,
                filename=filename,
                quantity=quantity,
                material=_text(part.get("material"), "part material", limit=64) or None,
                tsdc=_text(part.get("tsdc"), "part tsdc", limit=16) or None,
            )
        )
    return ManifestPlan(
        dialect="losh",
        title=title,
        description=_text(data.get("function"), "function"),
        licence=_text(data.get("license"), "license", limit=64) or None,
        licensors=_names(data.get("licensor"), split_commas=True),
        contributors=[],
        version=_text(data.get("version"), "version", limit=64) or None,
        keywords=[str(k) for k in _list(data.get("keywords")) if isinstance(k, str)][:30],
        repo=_text(data.get("repo"), "repo", limit=500) or None,
        documentation_language=_text(data.get("documentation-language"), "documentation-language", limit=35) or "en",
        parts=_dedupe(parts),
    )


def _printable(path: str) -> bool:
    return PurePosixPath(path.replace("\\", "/")).suffix.lower() in PRINTABLE


def _safe_basename(path: str) -> str:
    """The base name of a manifest path, if the whole path is harmless; else ManifestRejected."""
    shown = ascii(path)
    if "\\" in path or "\x00" in path or "://" in path or any(ord(c) < 0x20 for c in path):
        raise ManifestRejected(f"the manifest path {shown} is not a plain relative path")
    segments = [s for s in path.split("/") if s not in ("", ".")]
    if not segments or any(s == ".." for s in segments) or (len(segments[0]) == 2 and segments[0][1] == ":"):
        raise ManifestRejected(f"the manifest path {shown} could escape the design's folder")
    try:
        return designs.check_filename(segments[-1])
    except designs.DesignFileError as exc:
        raise ManifestRejected(f"the manifest path {shown}: {exc}") from None


def _dedupe(parts: list[PlannedPart]) -> list[PlannedPart]:
    seen: dict[str, PlannedPart] = {}
    for part in parts:
        seen.setdefault(part.filename, part)
    return list(seen.values())


# --- import ----------------------------------------------------------------------------------


def _check_files(plan: ManifestPlan, uploads: dict[str, Upload]) -> None:
    """Every file the manifest lists was uploaded, and no upload is left over."""
    missing = [p.filename for p in plan.parts if p.filename not in uploads]
    if missing:
        raise ManifestRejected(
            f"the manifest lists files that were not uploaded: {', '.join(missing)} (stage each "
            "with POST /api/v1/uploads?filename=<name> and pass its id as upload=)"
        )
    named = {p.filename for p in plan.parts}
    extra = [name for name in uploads if name not in named]
    if extra:
        raise ManifestRejected(f"uploads not named by the manifest: {', '.join(extra)}")


def _licence_of(plan: ManifestPlan, override: str | None) -> str:
    """The SPDX id of the design: the request's override, else the manifest's."""
    given = override or plan.licence
    try:
        return normalise_licence_id(given or "")
    except UnknownLicence:
        raise ManifestRejected(
            f"the licence {given!r} is not an SPDX id cofab knows; resend with licence=<SPDX id> "
            f"(one of: {', '.join(known_licence_ids())})"
            if given
            else "the manifest names no licence; resend with licence=<SPDX id>"
        ) from None


def import_manifest(
    session: Session,
    caller: Principal,
    raw: bytes,
    *,
    media_type: str = "",
    upload_ids: Sequence[str] = (),
    licence: str | None = None,
    process: str | None = None,
) -> Design:
    """Create a design (version 1) from a manifest and the staged uploads of its files."""
    plan = parse_manifest(raw, media_type)
    uploads = service.uploads_by_name(session, caller, list(dict.fromkeys(upload_ids)))
    _check_files(plan, uploads)
    spdx = _licence_of(plan, licence)
    kinds = {uploads[p.filename].kind for p in plan.parts}
    chosen = process or _process(plan, kinds)
    materials = list(dict.fromkeys(p.material for p in plan.parts if p.material))
    try:
        meta = DesignMeta(
            title=plan.title[:200],
            description=plan.description,
            licence=spdx,
            process=chosen,
            materials=materials or (["PLA"] if chosen in ("FDM", "SLA") else []),
            tags=plan.keywords,
            co_authors=plan.contributors,
        )
    except ValidationError as exc:
        raise ManifestRejected("; ".join(e["msg"] for e in exc.errors())) from None
    parts = [service.PartSpec.from_stored(uploads[p.filename], quantity=p.quantity, name=p.name) for p in plan.parts]
    return flows.create_design(
        session,
        meta=meta,
        parts=parts,
        owner=caller,
        authors=plan.licensors or [caller.name],
        label=plan.version,
        note=f"imported from an {'OKH-LOSH' if plan.dialect == 'losh' else 'OKH v1'} manifest",
        source_repo=plan.repo,
        documentation_language=plan.documentation_language,
    )


def _process(plan: ManifestPlan, kinds: set[str]) -> str:
    for part in plan.parts:
        if part.tsdc and part.tsdc.upper() in _TSDC_PROCESS:
            return _TSDC_PROCESS[part.tsdc.upper()]
    return "laser" if kinds == {"outline"} else "FDM"


# --- export ----------------------------------------------------------------------------------


def export_manifest(session: Session, design_id: str, number: int, *, public_url: str) -> str:
    """An OKH-LOSH `okh.toml` for one version, with every required field."""
    design = session.get(Design, design_id)
    if design is None:
        raise NotFound(f"no design {design_id!r}")
    version = session.exec(
        select(DesignVersion).where(DesignVersion.design_id == design_id, DesignVersion.number == number)
    ).first()
    if version is None:
        raise NotFound(f"no version {number} of design {design_id!r}")
    authors = lineage.authors_of(design)
    manifest: dict[str, Any] = {
        "okhv": OKHV,
        "name": design.title,
        "repo": design.source_repo or f"{public_url.rstrip('/')}/api/v1/designs/{design.id}",
        "version": version.label,
        "license": design.licence,
        "licensor": authors[0] if len(authors) == 1 else authors,
        "documentation-language": design.documentation_language or "en",
        "function": design.description.strip() or design.title,
    }
    if design.tags:
        manifest["keywords"] = list(design.tags)
    tsdc = _PROCESS_TSDC.get(design.process)
    parts = []
    for f in service.version_files(session, design_id, number):
        part: dict[str, Any] = {"name": f.part_name or f.filename, "export": [f.filename], "quantity": f.quantity}
        if tsdc:
            part["tsdc"] = tsdc
        if design.materials:
            part["material"] = design.materials[0]
        parts.append(part)
    if parts:
        manifest["part"] = parts
    return tomli_w.dumps(manifest)
