"""mull's wire contract: the records a run keeps and the events it streams.

Only the standard library and pydantic are imported here, so anything that reads
a run (the CLI, the app, an NDJSON log, a test) can do so without loading the
roles, the model clients or retrieval. The events are in `schema.events`; the
bounded text types every role's schema uses are in `schema.fields`; the closed
sets of names (`RunErrorKind`, `SpecialistName`) in `schema.names`, which needs
no pydantic.

The package offers every name of the four modules below, each imported from its
module when first used: `schema.RunErrorKind` reads `schema.names` alone, without
building the records.
"""

from __future__ import annotations

from schema.lazy import lazy_names

__getattr__, __dir__ = lazy_names(
    __name__, every_name_of=("schema.names", "schema.errors", "schema.records", "schema.results")
)
