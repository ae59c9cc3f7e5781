"""The design catalog: designs with immutable versions of parts, SPDX licences and their
terms, remix lineage, analysis and derived files on upload, search, and Open Know-How.

A design holds its metadata and remix parents; each published version is an immutable set of
parts, each a file (by content hash) with a quantity. Files arrive as staged uploads, streamed
and analysed (`designs`) in a sandboxed child process, and are committed only if they pass.

Layout: `service` reads and simple writes, `flows` the multi-step changes (publish a design or
a version, edit metadata), `uploads` staged uploads and the clean-up of their bytes, `ingest`
the streamed file checks and analysis, `views` the thin HTTP routes; `config.CatalogSettings` is
`Settings.catalog`.

What other domains call:
- `attribution_chain(session, design_id)`: every ancestor's title, authors and licence;
- `licence_terms(spdx_id)`: whether a licence allows commercial use, is share-alike, ...;
- `current_parts(session, design_id)`: the latest version's parts with their quantities.

Modules, from the routes in:
- `views`: `/api/v1/designs`, `/api/v1/uploads`, `/api/v1/licences`, thin;
- `service`: reads (designs, versions, public shapes); `flows`: publishing and editing;
- `uploads`: staged uploads and the clean-up of their bytes;
- `ingest`: one uploaded file from stream to store (hash, sniff, budget, analysis, derived
  files); `sandbox`: the analysis child process with its memory and time limits, forked from
  a warm server (`analysis_preload`);
- `search`: full text and filters in one SQL statement per page; `okh`: OKH manifests in and
  out; `licences`: the SPDX table; `lineage`: remix lineage and the licence rules on it;
- `models`, `schemas`; `config`: the catalogue's limits (environment prefix `COFAB_CATALOG_`).
"""

from hub.catalog.licences import LicenceTerms, UnknownLicence, licence_terms
from hub.catalog.lineage import Attribution, attribution_chain
from hub.catalog.service import current_parts

__all__ = ["Attribution", "LicenceTerms", "UnknownLicence", "attribution_chain", "current_parts", "licence_terms"]
