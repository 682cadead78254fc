"""How long `mull --help` and `import ui.cli` take, against importing typer alone.

Each command runs in a fresh interpreter, in an empty folder, the commands taking
turns so that a busy machine slows them alike; the median of `--runs` is reported,
with its ratio to and difference from `python -c "import typer"`. The help of a
bare two-command typer app is shown too: typer's own rich help costs that much
before mull adds anything. The target is `mull --help` within 0.5 s of importing typer.

    python -m benchmarks.cli_startup [--runs 15]

Wall time on a busy machine is inflated by the load; CPU time (user + system of
the child) is not, and on an idle machine the two are close. On the development
machine (2 cores shared with other work, load average 4.5; 2026-12-07, median of 21):

                              wall  ratio    over       cpu  ratio    over
  import typer               0.11s   1.0x  +0.00s     0.07s   1.0x  +0.00s
  bare typer app --help      0.30s   2.7x  +0.19s     0.19s   2.7x  +0.12s
  import ui.cli              0.27s   2.4x  +0.16s     0.14s   2.0x  +0.07s
  mull --help                0.41s   3.7x  +0.30s     0.22s   3.1x  +0.15s

So `mull --help` costs 0.15 s of CPU over importing typer, 0.12 s of it typer's own
rich help, and is within the target even on the loaded machine; `mull eval` and `mull
index` import asyncio and rich's progress bars when they run, which saves `import ui.cli`
about 0.04 s of CPU (0.15 s before, 0.11 s after, one after the other at load 4.2,
median of 15). Before the CLI imported lazily (median of 7, load 5.7), `import ui.cli`
took 11.8 s wall / 5.3 s CPU and `mull --help` 11.8 s / 5.8 s: they loaded every graph,
the model clients, LangGraph, FAISS, numpy, bm25s and pypdf.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BARE_TYPER_HELP = """
import typer
app = typer.Typer()
@app.command()
def first() -> None: "One."
@app.command()
def second() -> None: "Two."
app(["--help"])
"""
MULL_HELP = "import sys\nfrom ui.cli import main\nsys.argv = ['mull', '--help']\nmain()"

COMMANDS: dict[str, str] = {
    "import typer": "import typer",
    "bare typer app --help": BARE_TYPER_HELP,
    "import ui.cli": "import ui.cli",
    "mull --help": MULL_HELP,
}
"""What each row runs with `python -c`; the first is the baseline."""


def _seconds(code: str, folder: str, env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of one run of `code` in a fresh interpreter."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=folder, env=env, capture_output=True, check=False
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{code!r} failed:\n{done.stderr.decode()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    """Time each command, taking turns, and print the medians against the baseline."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="Runs of each command.")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MULL_", "OLLAMA_"))}
    env["PYTHONPATH"] = str(ROOT)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in COMMANDS}
    with tempfile.TemporaryDirectory() as folder:
        for code in COMMANDS.values():  # a first run warms the disk cache, uncounted
            _seconds(code, folder, env)
        for _ in range(args.runs):
            for name, code in COMMANDS.items():
                runs[name].append(_seconds(code, folder, env))
    wall = {name: statistics.median(w for w, _ in timed) for name, timed in runs.items()}
    cpu = {name: statistics.median(c for _, c in timed) for name, timed in runs.items()}
    base = next(iter(COMMANDS))
    load = os.getloadavg()[0]
    print(f"median of {args.runs} runs on {os.cpu_count()} cores, load average {load:.1f}")
    print(f"  {'':<24} {'wall':>7} {'ratio':>6} {'over':>7}   {'cpu':>7} {'ratio':>6} {'over':>7}")
    for name in COMMANDS:
        print(
            f"  {name:<24} {wall[name]:6.2f}s {wall[name] / wall[base]:5.1f}x "
            f"{wall[name] - wall[base]:+6.2f}s   {cpu[name]:6.2f}s {cpu[name] / cpu[base]:5.1f}x "
            f"{cpu[name] - cpu[base]:+6.2f}s"
        )
    over, cpu_over = wall["mull --help"] - wall[base], cpu["mull --help"] - cpu[base]
    print(
        f"mull --help over importing typer: {over:+.2f} s wall, {cpu_over:+.2f} s CPU "
        "(target +0.50 s)"
    )


if __name__ == "__main__":
    main()
