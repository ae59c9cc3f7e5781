"""API shapes of the catalog: table models are never returned directly, and what a client
sends (`*Create`, `*Update`) is separate from what it gets back (`*Public`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator

from hub.catalog.licences import LicenceKind, normalise_licence_id

PROCESSES = ("FDM", "SLA", "laser", "CNC")
_PROCESS_PATTERN = "^(FDM|SLA|laser|CNC)$"
_NAME = Field(min_length=1, max_length=200)


def _clean_list(values: list[str], *, limit: int, fold: bool = False) -> list[str]:
    """Strip, drop empties and repeats (case-insensitively), keep order; optionally lower-case."""
    out: dict[str, str] = {}
    for value in values:
        text = " ".join(str(value).split())
        if not text:
            continue
        if len(text) > limit:
            raise ValueError(f"{text[:20]!r}… is longer than {limit} characters")
        out.setdefault(text.casefold(), text.casefold() if fold else text)
    return list(out.values())


class DesignMeta(BaseModel):
    """What a designer says about a design. The licence is an SPDX id (case-insensitive);
    unknown ids are refused with the list of known ones."""

    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=20_000)
    licence: str = Field(
        default="CC-BY-SA-4.0",
        min_length=1,
        max_length=64,
        description="SPDX licence id of the design, e.g. `CERN-OHL-S-2.0`.",
    )
    process: str = Field(default="FDM", pattern=_PROCESS_PATTERN, description="FDM, SLA, laser or CNC.")
    materials: list[str] = Field(
        default_factory=lambda: ["PLA"],
        max_length=20,
        description="Recommended materials, e.g. `PLA`, `PETG`, `plywood 3 mm`.",
    )
    tags: list[str] = Field(default_factory=list, max_length=30, description="Free tags, stored lower-case.")
    co_authors: list[str] = Field(
        default_factory=list, max_length=50, description="Names credited beside the publishing designer."
    )
    remix_of: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="Ids of the designs this one remixes, nearest inspiration first.",
    )

    @field_validator("licence")
    @classmethod
    def _known_licence(cls, value: str) -> str:
        return normalise_licence_id(value)

    @field_validator("materials")
    @classmethod
    def _materials(cls, values: list[str]) -> list[str]:
        return _clean_list(values, limit=64)

    @field_validator("co_authors")
    @classmethod
    def _co_authors(cls, values: list[str]) -> list[str]:
        return _clean_list(values, limit=200)

    @field_validator("tags")
    @classmethod
    def _tags(cls, values: list[str]) -> list[str]:
        return _clean_list(values, limit=64, fold=True)


class PartRef(BaseModel):
    """One part of a version: a staged upload and how many copies make one design."""

    upload_id: str = Field(min_length=1, max_length=40, description="Id from `POST /api/v1/uploads`.")
    quantity: int = Field(default=1, ge=1, le=1000)
    name: str = Field(default="", max_length=200, description="Part name; defaults to the file name.")


class VersionCreate(BaseModel):
    """A new immutable version: the complete set of parts (nothing is inherited)."""

    parts: list[PartRef] = Field(min_length=1, max_length=200)
    label: str | None = Field(
        default=None, max_length=64, description="As people name it, e.g. `2.1`; defaults to the version number."
    )
    note: str = Field(default="", max_length=5000, description="What changed.")


class DesignCreate(DesignMeta):
    """A design with several parts from staged uploads (JSON body of `POST /api/v1/designs`)."""

    parts: list[PartRef] = Field(min_length=1, max_length=200)
    label: str | None = Field(default=None, max_length=64)
    note: str = Field(default="", max_length=5000)


class DesignUpdate(BaseModel):
    """Metadata changes (the owner or an admin). Licence and files are fixed: files change by
    publishing a version; credits can be added (`add_remix_of`, `co_authors`), never removed."""

    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=20_000)
    materials: list[str] | None = Field(default=None, max_length=20)
    tags: list[str] | None = Field(default=None, max_length=30)
    add_co_authors: list[str] = Field(default_factory=list, max_length=50)
    add_remix_of: list[str] = Field(default_factory=list, max_length=50)

    @field_validator("materials")
    @classmethod
    def _materials(cls, values: list[str] | None) -> list[str] | None:
        return None if values is None else _clean_list(values, limit=64)

    @field_validator("add_co_authors")
    @classmethod
    def _co_authors(cls, values: list[str]) -> list[str]:
        return _clean_list(values, limit=200)

    @field_validator("tags")
    @classmethod
    def _tags(cls, values: list[str] | None) -> list[str] | None:
        return None if values is None else _clean_list(values, limit=64, fold=True)


class DerivedPublic(BaseModel):
    """A file made from an uploaded one (kept beside it, never replacing it)."""

    kind: str = Field(description="`repaired` (binary STL), `thumbnail` (PNG) or `viewer` (GLB).")
    sha256: str
    size_bytes: int
    media_type: str
    detail: dict[str, Any] = Field(default_factory=dict)


class UploadPublic(BaseModel):
    id: str
    filename: str
    sha256: str
    size_bytes: int
    kind: str = Field(description="`mesh` or `outline`.")
    format: str
    analysis: dict[str, Any]
    derived: list[DerivedPublic]
    expires_at: float


class DesignFilePublic(BaseModel):
    id: int
    part_name: str
    quantity: int
    filename: str
    sha256: str
    size_bytes: int
    kind: str
    format: str
    faces: int | None
    vertices: int | None
    watertight: bool | None
    volume_mm3: float | None
    size_mm: tuple[float, float, float]
    verdict: str | None
    analysis: dict[str, Any]
    repaired: DerivedPublic | None = None
    thumbnail_url: str | None = None
    viewer_url: str | None = None


class VersionSummary(BaseModel):
    number: int
    label: str
    note: str
    created_at: float


class VersionPublic(VersionSummary):
    design_id: str
    files: list[DesignFilePublic]


class AttributionPublic(BaseModel):
    design_id: str
    title: str
    authors: list[str]
    licence: str
    depth: int = Field(description="1 for a direct parent, 2 for its parent, …")


class LicencePublic(BaseModel):
    id: str
    name: str
    kind: LicenceKind
    commercial_use_allowed: bool
    share_alike: bool
    no_derivatives: bool


class DesignPublic(BaseModel):
    id: str
    title: str
    description: str
    licence: str
    licence_terms: LicencePublic
    author: str = Field(description="First author (the publishing designer unless imported).")
    authors: list[str]
    process: str
    materials: list[str]
    tags: list[str]
    created_at: float
    updated_at: float | None
    latest_version: int
    versions: list[VersionSummary]
    files: list[DesignFilePublic] = Field(description="The latest version's parts.")
    remix_of: list[str]
    attribution: list[AttributionPublic] = Field(description="Every ancestor, nearest first, each once.")


class DesignSummary(BaseModel):
    """One search hit: enough to list and filter, without files or analysis."""

    id: str
    title: str
    description: str
    licence: str
    commercial_use_allowed: bool
    authors: list[str]
    process: str
    materials: list[str]
    tags: list[str]
    latest_version: int
    fit_mm: tuple[float, float, float] | None = Field(
        description="The largest part extents, sorted small to large (every part fits this box)."
    )
    created_at: float


class DesignPage(BaseModel):
    """One page of a search. Counting every match of a very common word costs time in
    proportion to the catalog, so the count stops past a cap (`hub.catalog.search.COUNT_CAP`)
    and says so in `total_exact` rather than guessing."""

    total: int = Field(
        description=(
            "Designs matching the query, over all pages, when `total_exact` is true. When it is false, more "
            "than this many match (the count stops there) and, with `q` or a filter, only the first 10,001 of "
            "them can be paged to."
        )
    )
    total_exact: bool = Field(
        True,
        description=(
            "False when more designs match than `total` says: `total` is then a lower bound (show it as "
            '"10,000+"). With `q`, the best matches are then ranked among the 10,001 most recently published '
            "or edited matches."
        ),
    )
    limit: int
    offset: int
    items: list[DesignSummary]
