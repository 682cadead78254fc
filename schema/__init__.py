"""mull's wire contract: the records a run keeps and the events it streams.

Only the standard library and pydantic are imported here, so anything that reads
a run (the CLI, the app, an NDJSON log, a test) can do so without loading the
roles, the model clients or retrieval. The events are in `schema.events`; the
bounded text types every role's schema uses are in `schema.fields`; the closed
sets of names (`RunErrorKind`, `SpecialistName`) in `schema.names`, which needs
no pydantic.

Each name below is imported from its module when first used, so `schema.names`
can be read without building the records.
"""

from __future__ import annotations

from schema.lazy import lazy_names

_HOMES: dict[str, str] = {
    **dict.fromkeys(("ExplainedError", "RunError"), "schema.errors"),
    **dict.fromkeys(("RunErrorKind", "SpecialistName"), "schema.names"),
    **dict.fromkeys(
        (
            "Citation",
            "ClaimCheck",
            "CodeAttempt",
            "CodeFeedback",
            "Critique",
            "Draft",
            "GroundingVerdict",
            "RouteDecision",
            "StepRecord",
            "Thinking",
        ),
        "schema.records",
    ),
    **dict.fromkeys(
        ("Isolation", "SandboxResult", "SearchHit", "TestResult", "TestRun"), "schema.results"
    ),
}
"""Where each name this package offers is defined."""

__all__ = sorted(_HOMES)

__getattr__, __dir__ = lazy_names(__name__, _HOMES)
