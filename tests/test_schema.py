"""The wire contract: every failure has a kind in `RunErrorKind`, JSON output keeps its strings,
and a strict checkpointer revives the records with the enums they hold."""

from __future__ import annotations

import json
import logging

import pytest

import core.checkpoints
import tools.retrieval.index
import tools.sandbox
from core.checkpoints import allow_state_types, make_checkpointer
from core.errors import MullError
from core.models import HealthStatus
from schema import CodeAttempt, RunError, RunErrorKind, StepRecord, Thinking
from schema.events import ErrorEvent, parse_event

# Modules whose MullError subclasses the walk below must see.
_ = (core.checkpoints, tools.retrieval.index, tools.sandbox)


def subclasses(cls: type) -> set[type]:
    return {s for sub in cls.__subclasses__() for s in {sub, *subclasses(sub)}}


def test_every_kind_of_failure_mull_raises_is_a_member():
    kinds = {MullError.kind} | {exc.kind for exc in subclasses(MullError)}
    assert all(isinstance(kind, RunErrorKind) for kind in kinds), kinds
    assert len(kinds) >= 8


def test_a_failed_health_check_records_as_a_kind():
    failed = [status for status in HealthStatus if status is not HealthStatus.OK]
    assert {RunError(kind=status.value, message="m").kind for status in failed} == {
        RunErrorKind.UNREACHABLE,
        RunErrorKind.MODEL_MISSING,
        RunErrorKind.ERROR,
    }


def test_json_output_carries_the_kind_as_its_string():
    event = ErrorEvent(error=RunError(kind=RunErrorKind.UNREACHABLE, message="down"))
    line = event.model_dump_json()
    assert json.loads(line)["error"]["kind"] == "unreachable"
    assert parse_event(line).error.kind is RunErrorKind.UNREACHABLE


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="kind"):
        RunError(kind="no_such_kind", message="m")


@pytest.mark.parametrize(
    "record",
    [
        RunError(kind=RunErrorKind.CRASH, message="boom", node="reason"),
        StepRecord(index=1, title="t", content="c", seconds=0.5, thinking=Thinking(text="hm")),
        CodeAttempt(number=1, code="x = 1", tests="", tests_from="model"),
    ],
)
def test_a_strict_checkpointer_revives_records_with_their_enums(record, caplog):
    saver = allow_state_types(make_checkpointer("memory"), [type(record)])
    with caplog.at_level(logging.WARNING):
        back = saver.serde.loads_typed(saver.serde.dumps_typed(record))
    assert back == record and type(back) is type(record)
    assert "Blocked" not in caplog.text
