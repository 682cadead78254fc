"""mull's wire contract: the records a run keeps and the events it streams.

Only the standard library and pydantic are imported here, so anything that reads
a run (the CLI, the app, an NDJSON log, a test) can do so without loading the
roles, the model clients or retrieval. The events are in `schema.events`; the
bounded text types every role's schema uses are in `schema.fields`.
"""

from schema.errors import ExplainedError, RunError, RunErrorKind
from schema.records import (
    Citation,
    ClaimCheck,
    CodeAttempt,
    CodeFeedback,
    Critique,
    Draft,
    GroundingVerdict,
    RouteDecision,
    SpecialistName,
    StepRecord,
    Thinking,
)
from schema.results import Isolation, SandboxResult, SearchHit, TestResult, TestRun

__all__ = [
    "Citation",
    "ClaimCheck",
    "CodeAttempt",
    "CodeFeedback",
    "Critique",
    "Draft",
    "ExplainedError",
    "GroundingVerdict",
    "Isolation",
    "RouteDecision",
    "RunError",
    "RunErrorKind",
    "SandboxResult",
    "SearchHit",
    "SpecialistName",
    "StepRecord",
    "TestResult",
    "TestRun",
    "Thinking",
]
