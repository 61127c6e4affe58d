"""The usage ledger (lessonkit/harness/usage.py) for lessons pytest runs with nbval; loaded by lessonkit's pytest plugin.

A lesson's kernel, and only it, gets ``LESSONKIT_USAGE_DIR`` when nbval starts it (the test process
itself never has it). After the lesson's last cell, if every code cell of the notebook was run and
passed, the ledger is written from that kernel, before nbval stops it. A failed, skipped or
deselected cell, ``-x``, or Ctrl-C: no ledger (an answer must never look unused because a cell did not run).
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from . import usage
from .lesson_names import notebook_sources

FINISH_TIMEOUT_S = 60
_passed: set[str] = set()  # cells whose setup and call passed
_not_passed: set[str] = set()  # cells with a phase that failed or was skipped


def nbval_cell(item: pytest.Item) -> bool:
    """A cell of a lessonkit lesson (one that calls ``lessonkit.start``) run by nbval; other notebooks are left alone."""
    try:
        from nbval.plugin import IPyNbCell
    except ImportError:
        return False
    notebook = getattr(item.parent, "nb", None)
    return isinstance(item, IPyNbCell) and notebook is not None and any("lessonkit.start(" in s for s in notebook_sources(notebook))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    """Around the cell whose setup starts the notebook's kernel: the variable is set for that start only."""
    starts_kernel = nbval_cell(item) and getattr(item.parent, "kernel", None) is None
    saved = os.environ.get(usage.VARIABLE)
    if starts_kernel:
        os.environ[usage.VARIABLE] = str(usage.usage_dir())
    try:
        yield
    finally:
        if starts_kernel:
            if saved is None:
                os.environ.pop(usage.VARIABLE, None)
            else:
                os.environ[usage.VARIABLE] = saved


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.passed:
        _passed.add(report.nodeid)
    elif report.when in ("setup", "call") and not report.passed:
        _not_passed.add(report.nodeid)


def whole_lesson_passed(cells: list[str], code_cells: int, passed: set[str], not_passed: set[str]) -> bool:
    """Every code cell of the notebook was collected, run, and passed."""
    return len(cells) == code_cells and all(c in passed and c not in not_passed for c in cells)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """After the notebook's last cell, before nbval's teardown stops the kernel."""
    if not nbval_cell(item) or (nextitem is not None and nextitem.parent is item.parent):
        return
    parent: Any = item.parent
    kernel, notebook = getattr(parent, "kernel", None), getattr(parent, "nb", None)
    if kernel is None or notebook is None or not kernel.is_alive():
        return
    cells = [i.nodeid for i in item.session.items if i.parent is parent]
    sources = notebook_sources(notebook)
    if not whole_lesson_passed(cells, len(sources), _passed, _not_passed):
        return
    try:
        msg_id = kernel.execute_cell_input(usage.finish_code(item.path, sources, "pytest --nbval"), allow_stdin=False)
        kernel.await_reply(msg_id, timeout=FINISH_TIMEOUT_S)
    except Exception:  # noqa: BLE001 - no ledger then (doctor says usage unknown); the tests' outcome stands
        return
