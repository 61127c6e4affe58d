"""Headless notebook execution for the CLI: run a lesson top to bottom in a fresh kernel."""
from __future__ import annotations

import contextlib
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


@dataclass(frozen=True)
class ExecutionReport:
    """How a run went: cells run, seconds, and the failing cell's error if any."""

    notebook: Path
    ok: bool
    cells_run: int
    seconds: float
    error: str | None = None

    def summary(self) -> str:
        status = "ok" if self.ok else "FAILED"
        line = f"{self.notebook.name}: {status}, {self.cells_run} code cells in {self.seconds:.1f} s"
        return line + (f"\n{self.error}" if self.error else "")


@contextlib.contextmanager
def environment(overrides: Mapping[str, str | None]) -> Iterator[None]:
    """Set (or, with None, unset) variables for the kernel we start, then put them back."""
    saved = {k: os.environ.get(k) for k in overrides}
    try:
        for key, value in overrides.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def execute_notebook(path: Path, env: Mapping[str, str | None], save: bool, timeout: int = 600) -> ExecutionReport:
    """Run every cell with the notebook's folder as working directory; save outputs only if asked."""
    path = path.resolve()
    notebook = nbformat.read(path, as_version=4)
    # record_timing=False: no per-cell timestamps in the saved notebook, so re-recording diffs stay readable.
    client = NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", record_timing=False, resources={"metadata": {"path": str(path.parent)}}
    )
    start = time.monotonic()
    error = None
    # The kernel's own stderr (ipykernel's start-up notices) is kept aside and shown only on failure.
    with environment(env), tempfile.TemporaryFile("w+") as kernel_stderr:
        try:
            client.execute(stderr=kernel_stderr)
        except CellExecutionError as err:
            error = _short_error(err)
        except Exception as err:  # the kernel died or would not start: say so with what it printed
            kernel_stderr.seek(0)
            error = f"{type(err).__name__}: {err}\nkernel stderr:\n{kernel_stderr.read()[-2000:]}"
    cells = sum(1 for c in notebook.cells if c.cell_type == "code" and c.get("execution_count"))
    if save and error is None:
        nbformat.write(notebook, path)
    return ExecutionReport(path, error is None, cells, time.monotonic() - start, error)


def _short_error(err: CellExecutionError) -> str:
    """The failing cell's error name and message, without the whole coloured traceback."""
    text = f"{err.ename}: {err.evalue}" if getattr(err, "ename", None) else str(err)
    return text if len(text) < 4000 else text[:4000] + " …"
