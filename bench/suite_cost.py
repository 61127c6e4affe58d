"""Benchmark 4: what the tests cost: each lesson under nbval against a notebook that only imports.

The floor notebook imports the same libraries the lessons use and does nothing else; the difference
is lessonkit's own work plus the lesson's. ``--full-suite`` also times the whole README test command
(and ``--serial``: the same with ``-n 0``, one process), each as a ratio to a cold nbval run of a trivial
notebook (``1 + 1``) measured in the same invocation, with the time per group of tests (summed over
workers) from its JUnit report.
Run: python -m bench.suite_cost [--runs 3] [--full-suite [--serial] [--write-durations]] [--lessons 00_quickstart ...]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections import Counter
from pathlib import Path

import nbformat

from lessonkit.harness.execute import save_notebook
from lessonkit.support.files import atomic_write_text
from tests.scheduling import DURATIONS, unit_seconds

ROOT = Path(__file__).resolve().parent.parent
FLOOR_IMPORTS = """import lessonkit, langgraph, langchain_openai, langchain_tavily, ipywidgets
from lessonkit import checkpoints
from lessonkit.panels import Dashboard
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver"""


def nbval_seconds(notebook: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "0", str(notebook), "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{notebook.name} failed under nbval:\n{done.stdout[-2000:]}")
    return elapsed


TRIVIAL = "1 + 1"  # issue 15's yardstick: a cold nbval run of a trivial notebook (pytest's start-up and a kernel)


def floor_notebook(source: str = FLOOR_IMPORTS, name: str = "floor") -> Path:
    path = ROOT / "notebooks" / f"zz_{name}_benchmark.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source)]
    nb.cells[0]["id"] = name
    save_notebook(nb, path)  # atomic: a killed benchmark never leaves half a notebook for nbval to find
    return path


def group_of(classname: str) -> str:
    """A test's group for the report: the lessons under nbval, a test module, or a folder (``tests.browser``, ``tests.serve``)."""
    parts = classname.split(".")
    return "notebooks (nbval)" if parts[0] == "notebooks" else ".".join(parts[:2])


def junit_cases(report: Path) -> list[tuple[str, str, float]]:
    """``(classname, nodeid, seconds)`` per test case of a JUnit report (setup and teardown included)."""
    cases = []
    for case in ElementTree.parse(report).iter("testcase"):
        classname, name = case.get("classname") or "?", case.get("name") or "?"
        if classname.endswith(".ipynb"):  # nbval: notebooks.01_x.ipynb, "Cell 3"
            nodeid = classname.removesuffix(".ipynb").replace(".", "/") + ".ipynb::" + name
        else:  # tests.serve.test_auth, "test_x[param]" (the suite has no test classes)
            nodeid = classname.replace(".", "/") + ".py::" + name
        cases.append((classname, nodeid, float(case.get("time") or 0)))
    return cases


def full_suite(extra: list[str], write_durations: bool = False) -> dict:
    """The README's command (plus ``extra``): wall seconds, and seconds per group summed over its workers; with
    ``write_durations``, each scheduling unit's seconds into tests/durations.json (the order the next run starts them)."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "junit.xml"
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *extra],
                              cwd=ROOT, capture_output=True, text=True)
        wall = time.perf_counter() - start
        cases = junit_cases(report)
    groups: Counter[str] = Counter()
    for classname, _, seconds in cases:
        groups[group_of(classname)] += seconds
    if write_durations and done.returncode == 0:
        save_durations(unit_seconds([(nodeid, seconds) for _, nodeid, seconds in cases]))
    return {"wall_s": round(wall, 1), "exit": done.returncode, "summary": done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "",
            "groups_s": {name: round(seconds, 1) for name, seconds in groups.most_common()}}


def save_durations(seconds: dict[str, float]) -> None:
    note = "seconds per scheduling unit (tests/scheduling.py), from the last passing `python -m bench.suite_cost --full-suite --write-durations`"
    atomic_write_text(DURATIONS, json.dumps({"note": note, "seconds": seconds}, indent=0) + "\n")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lessons", nargs="*", default=None, help="lesson notebooks (default: all)")
    parser.add_argument("--full-suite", action="store_true", help="also time the README's whole test command once")
    parser.add_argument("--serial", action="store_true", help="with --full-suite: also time it with -n 0 (one process)")
    parser.add_argument("--write-durations", action="store_true",
                        help="with --full-suite: save each unit's time to tests/durations.json (the order tests start in)")
    args = parser.parse_args(argv)
    lessons = [ROOT / "notebooks" / f"{name}.ipynb" for name in args.lessons] if args.lessons else sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    floor, trivial = floor_notebook(), floor_notebook(TRIVIAL, "trivial")
    try:
        floor_times, trivial_times, rows = [], [], {}
        for _ in range(args.runs):  # interleaved, so the floor and the lessons see the same machine
            floor_times.append(nbval_seconds(floor))
            trivial_times.append(nbval_seconds(trivial))
            for lesson in lessons:
                rows.setdefault(lesson.stem, []).append(nbval_seconds(lesson))
    finally:
        floor.unlink(missing_ok=True)
        trivial.unlink(missing_ok=True)
    base, cold = statistics.median(floor_times), statistics.median(trivial_times)
    result = {
        "benchmark": "suite_cost", "runs": args.runs, "floor_s_median": round(base, 2), "trivial_s_median": round(cold, 2),
        "lessons": {name: {"s_median": round(statistics.median(t), 2), "over_floor": round(statistics.median(t) / base - 1, 3)} for name, t in rows.items()},
        "target": "over_floor <= 0.25",
    }
    if args.full_suite:
        runs = {"readme_command": full_suite([], write_durations=args.write_durations)} | ({"serial_-n_0": full_suite(["-n", "0"])} if args.serial else {})
        for run in runs.values():
            run["over_trivial"] = round(run["wall_s"] / cold, 1)
        result["full_suite"] = runs
        result["full_suite_target"] = "wall_s <= 60, over_trivial <= 8"
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
