"""tests/scheduling.py: which tests stay together on one xdist worker, and the order they start in (issue 15)."""
from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT
from tests.scheduling import WHOLE, longest_first, read_durations, unit_of, unit_seconds


@dataclass
class Item:
    nodeid: str


def test_a_lesson_and_a_server_module_are_one_unit_every_other_test_its_own() -> None:
    assert unit_of("notebooks/01_persistence_and_threads.ipynb::Cell 3") == "notebooks/01_persistence_and_threads.ipynb"
    assert unit_of("tests/serve/test_auth.py::test_bind_rule[::1-True]") == "tests/serve/test_auth.py"
    assert unit_of("tests/test_cli.py::test_run_executes_a_lesson_in_replay") == "tests/test_cli.py::test_run_executes_a_lesson_in_replay"


def test_units_start_longest_first_and_stay_whole_and_in_order() -> None:
    items = [Item(n) for n in ("tests/test_a.py::fast", "notebooks/x.ipynb::Cell 0", "tests/test_a.py::unknown",
                               "notebooks/x.ipynb::Cell 1", "tests/test_b.py::slow", "notebooks/x.ipynb::Cell 2")]
    durations = {"tests/test_a.py::fast": 1.0, "notebooks/x.ipynb": 5.0, "tests/test_b.py::slow": 9.0}
    assert [i.nodeid for i in longest_first(items, durations)] == [
        "tests/test_b.py::slow", "notebooks/x.ipynb::Cell 0", "notebooks/x.ipynb::Cell 1", "notebooks/x.ipynb::Cell 2",
        "tests/test_a.py::fast", "tests/test_a.py::unknown",  # no entry: after the measured ones, in collection order
    ]
    assert [i.nodeid for i in longest_first(items, {})] == [  # nothing measured: collection order, units together
        "tests/test_a.py::fast", "notebooks/x.ipynb::Cell 0", "notebooks/x.ipynb::Cell 1", "notebooks/x.ipynb::Cell 2",
        "tests/test_a.py::unknown", "tests/test_b.py::slow",
    ]


def test_seconds_are_summed_per_unit_and_a_missing_or_bad_file_orders_nothing(tmp_path: Path) -> None:
    assert unit_seconds([("notebooks/x.ipynb::Cell 0", 2.0), ("notebooks/x.ipynb::Cell 1", 1.5), ("tests/t.py::a", 0.1)]) == {"notebooks/x.ipynb": 3.5}
    assert read_durations(tmp_path / "none.json") == {}
    (tmp_path / "bad.json").write_text("{not json")
    assert read_durations(tmp_path / "bad.json") == {}
    (tmp_path / "list.json").write_text("[1, 2]")
    assert read_durations(tmp_path / "list.json") == {}


def test_the_committed_durations_name_units_that_exist() -> None:
    """A renamed test leaves a stale entry (it only costs order); a file that is gone means the whole file is stale."""
    seconds = read_durations()
    assert seconds, "tests/durations.json is missing: python -m bench.suite_cost --full-suite --write-durations"
    files = {unit.split("::", 1)[0] for unit in seconds}
    missing = sorted(f for f in files if not (ROOT / f).exists())
    assert not missing, f"tests/durations.json names files that are gone: {missing}; re-measure it"
    assert json.loads((ROOT / "tests" / "durations.json").read_text())["note"]


def module_scoped_fixture_files() -> set[str]:
    """Test files (or conftest folders) that define a fixture with scope "module" or "class"."""
    found = set()
    for path in (ROOT / "tests").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg == "scope" and isinstance(node.value, ast.Constant) \
                    and node.value.value in ("module", "class"):
                rel = path.relative_to(ROOT).as_posix()
                found.add(rel.rsplit("/", 1)[0] + "/" if path.name == "conftest.py" else rel)
    return found


def test_every_module_with_a_module_scoped_set_up_is_scheduled_whole() -> None:
    """Else each worker that gets one of its tests repeats the set-up (a server, say): correct, but slower."""
    loose = sorted(f for f in module_scoped_fixture_files() if not f.startswith(WHOLE))
    assert not loose, f"{loose} define module-scoped fixtures: add them to tests/scheduling.py's WHOLE"
