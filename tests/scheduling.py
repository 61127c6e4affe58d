"""How the README's test command spreads its tests over pytest-xdist's workers (issue 15, docs/benchmarks.md section 4).

Two rules, each for a measured reason:

- **What must stay together.** A lesson under nbval is one unit (its cells share one kernel), and so is a test
  module whose tests share a module-scoped set-up (a server per module): ``WHOLE`` lists them. Every other test is a
  unit of its own, so one long test file (the CLI's, the recording-safety tests) no longer keeps one worker busy
  for minutes while the others sit idle, as ``--dist loadfile`` did.
- **Longest first.** Units start in order of their measured time (``durations.json``, written by
  ``python -m bench.suite_cost --full-suite --write-durations``), so the last to start are the short ones and the
  workers finish together (LPT scheduling). The file only orders: a stale or missing entry costs time, never a
  result; a new test with no entry starts after the measured ones.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

DURATIONS = Path(__file__).with_name("durations.json")

# Units bigger than one test: lessons (nbval) and modules with module-scoped fixtures (servers), so each set-up runs
# once, on one worker. tests/test_scheduling.py checks every module with such a fixture is listed.
WHOLE = ("notebooks/", "tests/serve/", "tests/test_wire_fidelity.py")


def unit_of(nodeid: str) -> str:
    """The unit a test is scheduled with: its file when the file is in ``WHOLE``, else the test itself."""
    file = nodeid.split("::", 1)[0]
    return file if file.startswith(WHOLE) else nodeid


def read_durations(path: Path = DURATIONS) -> dict[str, float]:
    """Seconds per unit from the last measured run; empty when there is none (every unit then keeps its place)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): float(v) for k, v in data.get("seconds", {}).items()} if isinstance(data, dict) else {}


class HasNodeId(Protocol):
    nodeid: str


def longest_first(items: Sequence[HasNodeId], durations: Mapping[str, float]) -> list[HasNodeId]:
    """``items`` with whole units kept together and in their own order, units by measured time, longest first."""
    units = [unit_of(item.nodeid) for item in items]
    order: dict[str, int] = {}
    for unit in units:
        order.setdefault(unit, len(order))
    ranked = sorted(range(len(items)), key=lambda i: (-durations.get(units[i], 0.0), order[units[i]]))
    return [items[i] for i in ranked]


def unit_seconds(cases: Sequence[tuple[str, float]]) -> dict[str, float]:
    """``{unit: seconds}`` from ``(nodeid, seconds)`` pairs (a JUnit report's test cases), longest first."""
    totals: dict[str, float] = {}
    for nodeid, seconds in cases:
        unit = unit_of(nodeid)
        totals[unit] = totals.get(unit, 0.0) + seconds
    return {unit: round(s, 1) for unit, s in sorted(totals.items(), key=lambda kv: -kv[1]) if s >= 0.5}


def scheduler_class() -> type:
    """pytest-xdist's LoadScopeScheduling with ``unit_of`` as its scope (``_split_scope`` is its documented override
    point, but private: tests/test_private_apis.py fails if it moves)."""
    from xdist.scheduler import LoadScopeScheduling

    class UnitScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return unit_of(nodeid)

    return UnitScheduling
