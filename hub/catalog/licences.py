"""The SPDX licences cofab knows, and what each one lets people do with a design.

Why a table in code and not free text: routing must know whether a licence allows commercial
use (a non-commercial design is never made as a paid job), and remix lineage must know which
licences are share-alike or forbid derivatives. Those are facts about a licence, so they live
next to its id, reviewed like code. An id not in the table is refused (422) with the list of
known ids: guessing what an unknown licence permits would put the cooperative's members at risk.

Remix compatibility is deliberately conservative: a remix of a share-alike design may use
only the licences listed in that licence's `remix_licences` (the same licence, its later
versions where the licence allows it, and the one-way compatibilities its authors publish,
such as CC BY-SA 4.0 -> GPLv3). A pair not listed is refused; the members can extend the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hub.errors import Rejected

__all__ = [
    "LICENCES",
    "LicenceKind",
    "LicenceTerms",
    "UnknownLicence",
    "known_licence_ids",
    "licence_terms",
    "normalise_licence_id",
]


class LicenceKind(StrEnum):
    """What a licence was written for. Any kind may be chosen for a design; the kind is shown
    so a designer can see that, e.g., MIT was written for software."""

    HARDWARE = "hardware"
    DOCUMENTATION = "documentation"
    SOFTWARE = "software"


@dataclass(frozen=True, slots=True)
class LicenceTerms:
    """One licence's terms as routing and lineage need them.

    commercial_use_allowed: a paid job may make the design.
    share_alike: a remix must stay under a licence listed in `remix_licences`.
    no_derivatives: remixes are refused.
    remix_licences: for share-alike licences, the licences a remix may take (empty otherwise:
      any licence, subject to `commercial_use_allowed` being kept, see `lineage`).
    deprecated_by: for old SPDX ids (e.g. GPL-3.0), the id that replaced them.
    """

    id: str
    name: str
    kind: LicenceKind
    commercial_use_allowed: bool
    share_alike: bool
    no_derivatives: bool
    remix_licences: frozenset[str] = frozenset()
    deprecated_by: str | None = None

    def allows_remix_under(self, child: LicenceTerms) -> bool:
        """Whether a remix of a design under this licence may be published under `child`."""
        if self.no_derivatives:
            return False
        if not self.share_alike:
            return True
        return child.id in self.remix_licences


class UnknownLicence(Rejected, ValueError):
    """An id that is not in the table; the message lists the known ids. Also a ValueError, so a
    pydantic validator that looks a licence up reports it as a validation error."""

    def __init__(self, given: str) -> None:
        super().__init__(f"unknown licence {given!r}: use an SPDX id, one of: {', '.join(known_licence_ids())}")
        self.given = given


_H, _D, _S = LicenceKind.HARDWARE, LicenceKind.DOCUMENTATION, LicenceKind.SOFTWARE

_GPL2_ONLY = frozenset({"GPL-2.0-only", "GPL-2.0"})
_GPL3_ONLY = frozenset({"GPL-3.0-only", "GPL-3.0"})
_GPL3_LATER = frozenset({"GPL-3.0-or-later"}) | _GPL3_ONLY
_AGPL3 = frozenset({"AGPL-3.0", "AGPL-3.0-only", "AGPL-3.0-or-later"})
_LGPL3 = frozenset({"LGPL-3.0", "LGPL-3.0-only", "LGPL-3.0-or-later"}) | _GPL3_LATER


def _t(
    id: str,
    name: str,
    kind: LicenceKind,
    *,
    commercial: bool = True,
    sa: bool = False,
    nd: bool = False,
    remix: frozenset[str] | set[str] = frozenset(),
    deprecated_by: str | None = None,
) -> LicenceTerms:
    return LicenceTerms(
        id=id,
        name=name,
        kind=kind,
        commercial_use_allowed=commercial,
        share_alike=sa,
        no_derivatives=nd,
        remix_licences=frozenset(remix) | ({id} if sa else set()),
        deprecated_by=deprecated_by,
    )


_TABLE: tuple[LicenceTerms, ...] = (
    # Creative Commons 4.0
    _t("CC0-1.0", "Creative Commons Zero v1.0 Universal", _D),
    _t("CC-BY-4.0", "Creative Commons Attribution 4.0 International", _D),
    # CC BY-SA 4.0 lists GPLv3 as a compatible licence (one way)
    _t("CC-BY-SA-4.0", "Creative Commons Attribution Share Alike 4.0 International", _D, sa=True, remix=_GPL3_LATER),
    _t("CC-BY-NC-4.0", "Creative Commons Attribution Non Commercial 4.0 International", _D, commercial=False),
    _t(
        "CC-BY-NC-SA-4.0",
        "Creative Commons Attribution Non Commercial Share Alike 4.0 International",
        _D,
        commercial=False,
        sa=True,
    ),
    _t("CC-BY-ND-4.0", "Creative Commons Attribution No Derivatives 4.0 International", _D, nd=True),
    _t(
        "CC-BY-NC-ND-4.0",
        "Creative Commons Attribution Non Commercial No Derivatives 4.0 International",
        _D,
        commercial=False,
        nd=True,
    ),
    # open hardware licences
    _t("CERN-OHL-P-2.0", "CERN Open Hardware Licence Version 2 - Permissive", _H),
    _t("CERN-OHL-W-2.0", "CERN Open Hardware Licence Version 2 - Weakly Reciprocal", _H, sa=True),
    _t("CERN-OHL-S-2.0", "CERN Open Hardware Licence Version 2 - Strongly Reciprocal", _H, sa=True),
    _t("CERN-OHL-1.2", "CERN Open Hardware Licence v1.2", _H, sa=True, remix={"CERN-OHL-S-2.0"}),
    _t("TAPR-OHL-1.0", "TAPR Open Hardware License v1.0", _H, sa=True),
    # GNU family: "or later" lets a remix choose a later version; the LGPL may become the GPL
    _t("GPL-2.0-only", "GNU General Public License v2.0 only", _S, sa=True, remix=_GPL2_ONLY),
    _t("GPL-2.0-or-later", "GNU General Public License v2.0 or later", _S, sa=True, remix=_GPL2_ONLY | _GPL3_LATER),
    _t(
        "GPL-2.0",
        "GNU General Public License v2.0 only (deprecated id)",
        _S,
        sa=True,
        remix=_GPL2_ONLY,
        deprecated_by="GPL-2.0-only",
    ),
    _t("GPL-3.0-only", "GNU General Public License v3.0 only", _S, sa=True, remix=_GPL3_ONLY | _AGPL3),
    _t("GPL-3.0-or-later", "GNU General Public License v3.0 or later", _S, sa=True, remix=_GPL3_LATER | _AGPL3),
    _t(
        "GPL-3.0",
        "GNU General Public License v3.0 only (deprecated id)",
        _S,
        sa=True,
        remix=_GPL3_ONLY | _AGPL3,
        deprecated_by="GPL-3.0-only",
    ),
    _t("LGPL-3.0-only", "GNU Lesser General Public License v3.0 only", _S, sa=True, remix=_LGPL3),
    _t("LGPL-3.0-or-later", "GNU Lesser General Public License v3.0 or later", _S, sa=True, remix=_LGPL3),
    _t(
        "LGPL-3.0",
        "GNU Lesser General Public License v3.0 only (deprecated id)",
        _S,
        sa=True,
        remix=_LGPL3,
        deprecated_by="LGPL-3.0-only",
    ),
    _t("AGPL-3.0-only", "GNU Affero General Public License v3.0 only", _S, sa=True, remix=_AGPL3),
    _t("AGPL-3.0-or-later", "GNU Affero General Public License v3.0 or later", _S, sa=True, remix=_AGPL3),
    _t(
        "AGPL-3.0",
        "GNU Affero General Public License v3.0 (deprecated id)",
        _S,
        sa=True,
        remix=_AGPL3,
        deprecated_by="AGPL-3.0-only",
    ),
    # MPL 2.0 is file-level copyleft and names the GNU licences as secondary licences
    _t("MPL-2.0", "Mozilla Public License 2.0", _S, sa=True, remix=_LGPL3 | _AGPL3 | {"GPL-2.0-or-later"}),
    # permissive
    _t("MIT", "MIT License", _S),
    _t("BSD-2-Clause", 'BSD 2-Clause "Simplified" License', _S),
    _t("BSD-3-Clause", 'BSD 3-Clause "New" or "Revised" License', _S),
    _t("Apache-2.0", "Apache License 2.0", _S),
    _t("Unlicense", "The Unlicense", _S),
)

#: Every known licence by its SPDX id.
LICENCES: dict[str, LicenceTerms] = {t.id: t for t in _TABLE}
_BY_FOLDED = {t.id.casefold(): t.id for t in _TABLE}
# deprecated SPDX "+" forms mean "or later"
_ALIASES = {"gpl-2.0+": "GPL-2.0-or-later", "gpl-3.0+": "GPL-3.0-or-later", "lgpl-3.0+": "LGPL-3.0-or-later"}


def known_licence_ids() -> list[str]:
    return sorted(LICENCES)


def normalise_licence_id(given: str) -> str:
    """The canonical SPDX id for `given`, or UnknownLicence.

    Case and inner spaces are forgiven ("cc-by-sa 4.0" -> "CC-BY-SA-4.0"), because manifests
    written by hand spell ids that way; nothing else is guessed (e.g. "CERN OHL" names no
    version and stays unknown).
    """
    folded = "-".join(given.strip().split()).casefold()
    if folded in _ALIASES:
        return _ALIASES[folded]
    try:
        return _BY_FOLDED[folded]
    except KeyError:
        raise UnknownLicence(given) from None


def licence_terms(spdx_id: str) -> LicenceTerms:
    """The terms of a licence by SPDX id (case-insensitive). Raises UnknownLicence.

    Routing calls this to refuse paid jobs for designs whose licence forbids commercial use.
    """
    return LICENCES[normalise_licence_id(spdx_id)]
