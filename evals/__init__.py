"""Evals: measure whether reasoning chains, reflection and tools make a local model's answers better.

from evals import load_suite, run_eval, write_report
await run_eval(load_suite("reasoning"), "out", strategies=["direct", "reasoning"])
write_report("out")  # out/report.md, out/report.json, out/accuracy_vs_latency.png

See `evals/README.md` for the suites, the strategies and the metrics.
"""

from evals.estimators import pass_at_k
from evals.items import CodeItem, Evidence, ItemRecord, RagItem, ReasoningItem, Suite
from evals.metrics import StrategySummary, summarise
from evals.report import load_report, read_records, write_report
from evals.runner import EvalProgress, EvalRun, run_eval
from evals.strategies import STRATEGIES, strategies_for
from evals.strategy_base import Strategy
from evals.suites import load_gsm8k, load_humaneval, load_mbpp, load_suite

__all__ = [
    "STRATEGIES",
    "CodeItem",
    "EvalProgress",
    "EvalRun",
    "Evidence",
    "ItemRecord",
    "RagItem",
    "ReasoningItem",
    "Strategy",
    "StrategySummary",
    "Suite",
    "load_gsm8k",
    "load_humaneval",
    "load_mbpp",
    "load_report",
    "load_suite",
    "pass_at_k",
    "read_records",
    "run_eval",
    "strategies_for",
    "summarise",
    "write_report",
]
