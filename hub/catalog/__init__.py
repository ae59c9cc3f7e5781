"""The design catalog: designs with immutable versions of parts, SPDX licences and their
terms, remix lineage, analysis and derived files on upload, search, and Open Know-How.

Layout: `service` reads and simple writes, `flows` the multi-step changes (publish a design or
a version, edit metadata), `uploads` staged uploads and the clean-up of their bytes, `ingest`
the streamed file checks and analysis, `views` the thin HTTP routes; `config.CatalogSettings` is
`Settings.catalog`.

What other domains call:
- `attribution_chain(session, design_id)`: every ancestor's title, authors and licence;
- `licence_terms(spdx_id)`: whether a licence allows commercial use, is share-alike, ...;
- `current_parts(session, design_id)`: the latest version's parts with their quantities.
"""

from hub.catalog.licences import LicenceTerms, UnknownLicence, licence_terms
from hub.catalog.lineage import Attribution, attribution_chain
from hub.catalog.service import current_parts

__all__ = ["Attribution", "LicenceTerms", "UnknownLicence", "attribution_chain", "current_parts", "licence_terms"]
