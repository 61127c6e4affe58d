"""Benchmark 4: what the tests cost: each lesson under nbval against a notebook that only imports.

The floor notebook imports the same libraries the lessons use and does nothing else; the difference
is lessonkit's own work plus the lesson's. Optionally times the whole README test command.
Run: python -m bench.suite_cost [--runs 3] [--full-suite]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from lessonkit.harness.execute import save_notebook

ROOT = Path(__file__).resolve().parent.parent
FLOOR_IMPORTS = """import lessonkit, langgraph, langchain_openai, langchain_tavily, ipywidgets
from lessonkit import checkpoints
from lessonkit.panels import Dashboard
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver"""


def nbval_seconds(notebook: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", str(notebook), "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{notebook.name} failed under nbval:\n{done.stdout[-2000:]}")
    return elapsed


def floor_notebook() -> Path:
    path = ROOT / "notebooks" / "zz_floor_benchmark.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(FLOOR_IMPORTS)]
    nb.cells[0]["id"] = "floor"
    save_notebook(nb, path)  # atomic: a killed benchmark never leaves half a notebook for nbval to find
    return path


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lessons", nargs="*", default=None, help="lesson notebooks (default: all)")
    parser.add_argument("--full-suite", action="store_true", help="also time the README's whole test command once")
    args = parser.parse_args(argv)
    lessons = [ROOT / "notebooks" / f"{name}.ipynb" for name in args.lessons] if args.lessons else sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    floor = floor_notebook()
    try:
        floor_times, rows = [], {}
        for _ in range(args.runs):  # interleaved, so the floor and the lessons see the same machine
            floor_times.append(nbval_seconds(floor))
            for lesson in lessons:
                rows.setdefault(lesson.stem, []).append(nbval_seconds(lesson))
    finally:
        floor.unlink(missing_ok=True)
    base = statistics.median(floor_times)
    result = {
        "benchmark": "suite_cost", "runs": args.runs, "floor_s_median": round(base, 2),
        "lessons": {name: {"s_median": round(statistics.median(t), 2), "over_floor": round(statistics.median(t) / base - 1, 3)} for name, t in rows.items()},
        "target": "over_floor <= 0.25",
    }
    if args.full_suite:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pytest", "-q"], cwd=ROOT, capture_output=True)
        result["full_suite_s"] = round(time.perf_counter() - start, 1)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
