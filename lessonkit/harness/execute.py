"""Headless notebook execution for the CLI: run a lesson top to bottom in a fresh kernel."""
from __future__ import annotations

import atexit
import contextlib
import os
import signal
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator, Mapping

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from ..errors import LessonkitError
from ..support.files import atomic_write_text
from ..support.redact import redact, redact_data
from .settings import Settings, apply_env


@dataclass(frozen=True)
class ExecutionReport:
    """How a run went: cells run, seconds, and the failing cell's error if any."""

    notebook: Path
    ok: bool
    cells_run: int
    seconds: float
    error: str | None = None
    finish_output: str = ""  # what the ``finish`` code printed (the record pass's commit summary)

    def summary(self) -> str:
        status = "ok" if self.ok else "FAILED"
        line = f"{self.notebook.name}: {status}, {self.cells_run} code cells in {self.seconds:.1f} s"
        return line + (f"\n{self.error}" if self.error else "")


@contextlib.contextmanager
def environment(overrides: Mapping[str, str | None]) -> Iterator[None]:
    """Set (or, with None, unset) variables for the kernel we start, then put them back."""
    saved = {k: os.environ.get(k) for k in overrides}
    try:
        apply_env(os.environ, overrides)
        yield
    finally:
        apply_env(os.environ, saved)


def execute_notebook(
    path: Path, env: Mapping[str, str | None], *, save_to: Path | None = None, finish: str | None = None, timeout: int = 600,
    notebook: nbformat.NotebookNode | None = None,
) -> ExecutionReport:
    """Run every cell with the notebook's folder as working directory.

    ``finish``: code run in the same kernel after the last cell (not kept in the notebook), e.g. to
    commit a record-mode recording. ``save_to``: where the executed notebook is written (atomically,
    redacted) when every cell ran; nothing is written otherwise. ``notebook``: run this one instead of
    the file at ``path`` (a lesson with its solutions filled in), still from ``path``'s folder and name.
    """
    path = path.resolve()
    notebook = read_notebook(path) if notebook is None else notebook
    for cell in notebook.cells:  # counts left from the last save must not count as cells run now
        if cell.cell_type == "code":
            cell.execution_count = None
    if finish is not None:
        notebook.cells.append(nbformat.v4.new_code_cell(finish))
    # record_timing=False: no per-cell timestamps in the saved notebook, so re-recording diffs stay readable.
    client = NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", record_timing=False, resources={"metadata": {"path": str(path.parent)}}
    )
    start = time.monotonic()
    error = None
    # The kernel's own stderr (ipykernel's start-up notices) is kept aside and shown only on failure.
    with environment({**Settings(notebook=path.name).to_env("notebook"), **env}), tempfile.TemporaryFile("w+") as kernel_stderr:
        try:
            _execute_in_worker(client, kernel_stderr)
        except CellExecutionError as err:
            error = _short_error(err, notebook)
        except DeadKernelError:
            kernel_stderr.seek(0)
            error = (f"the kernel died while running code cell {_cells_run(notebook) + 1} (it was killed, ran out of "
                     f"memory, or hit a file-size limit).\nkernel stderr:\n{kernel_stderr.read()[-2000:]}")
        except CellTimeoutError:
            error = f"code cell {_cells_run(notebook)} ran longer than {timeout} s and was stopped."
        except Exception as err:  # the kernel would not start: say so with what it printed
            kernel_stderr.seek(0)
            error = f"{type(err).__name__}: {err}\nkernel stderr:\n{kernel_stderr.read()[-2000:]}"
    finish_output = ""
    if finish is not None:
        finished = notebook.cells.pop()
        finish_output = "".join(o.get("text", "") for o in finished.get("outputs", []) if o.get("output_type") == "stream")
    cells = _cells_run(notebook)
    if save_to is not None and error is None:
        save_notebook(notebook, save_to)
    return ExecutionReport(path, error is None, cells, time.monotonic() - start, None if error is None else redact(error),
                           redact(finish_output))


def _execute_in_worker(client: NotebookClient, kernel_stderr: IO[str]) -> None:
    """Run the client in a worker thread, so stop signals stay with the caller.

    nbclient takes SIGINT and SIGTERM over for its event loop while it runs (and leaves the default
    handlers behind). On the main thread they stay the caller's: a stop ends the kernel, lets the
    worker unwind, and is passed on as the caller's own exception.
    """
    failure: list[BaseException] = []

    def work() -> None:
        try:
            client.execute(stderr=kernel_stderr)
        except BaseException as err:  # noqa: BLE001 - handed to the main thread below
            failure.append(err)

    worker = threading.Thread(target=work, name="lessonkit-notebook", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.1)
    except BaseException:
        _kill_kernel(client)
        worker.join(30)
        # nbclient's exit hook would try to clean up the kernel again and print a traceback at exit.
        # (A private name: tests/test_record_safety.py checks it still exists.)
        atexit.unregister(client._cleanup_kernel)
        raise
    if failure:
        raise failure[0]


def _kill_kernel(client: NotebookClient) -> None:
    """End the kernel process at once (the worker then sees a dead kernel and cleans up)."""
    pid = getattr(getattr(client.km, "provisioner", None), "pid", None)
    if pid:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """A notebook, or a LessonkitError saying why this file is not one (instead of nbformat's traceback)."""
    try:
        return nbformat.read(path, as_version=4)
    except IsADirectoryError:
        raise LessonkitError(f"{path} is a folder, not a notebook.") from None
    except (OSError, UnicodeDecodeError) as err:
        raise LessonkitError(f"cannot read {path}: {err}") from None
    except Exception as err:  # nbformat's NotJSONError, validation errors, unknown versions
        raise LessonkitError(f"{path} is not a readable notebook ({type(err).__name__}: {str(err)[:200]}). "
                             "Restore it from git, or open and re-save it in JupyterLab.") from None


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def without_widget_state(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook as lessonkit commits it: panels as their text, no widget state (pure).

    Widget state made lesson 04 521 KB (a one-question re-record: a 2,000-line diff); without it,
    28 KB. A widget view kept without its state shows "Error displaying widget: model not found"
    in JupyterLab, so the view goes too and the panel's text form (what nbval compares) stays.
    """
    result = nbformat.from_dict(notebook)
    result.metadata.pop("widgets", None)
    for cell in result.cells:
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            data = output.get("data")
            if data and WIDGET_VIEW in data and len(data) > 1:
                del data[WIDGET_VIEW]
        cell.outputs = [o for o in cell.get("outputs", []) if not (o.get("data") and set(o["data"]) == {WIDGET_VIEW})]
    return result


def save_notebook(notebook: nbformat.NotebookNode, path: Path) -> None:
    """Write a notebook atomically, without widget state and with every secret-shaped string redacted."""
    text = nbformat.writes(nbformat.from_dict(redact_data(without_widget_state(notebook))))
    atomic_write_text(path, text if text.endswith("\n") else text + "\n")  # as nbformat.write ends a file


def _cells_run(notebook: nbformat.NotebookNode) -> int:
    return sum(1 for c in notebook.cells if c.cell_type == "code" and c.get("execution_count"))


def _short_error(err: CellExecutionError, notebook: nbformat.NotebookNode | None = None) -> str:
    """Which code cell failed (its number and first line) and its error name and message, without the coloured traceback."""
    text = f"{err.ename}: {err.evalue}" if getattr(err, "ename", None) else str(err)
    text = text if len(text) < 4000 else text[:4000] + " …"
    if notebook is None:
        return text
    code = [c for c in notebook.cells if c.cell_type == "code"]
    failed = next((i for i, c in enumerate(code) if any(o.get("output_type") == "error" for o in c.get("outputs", []))), None)
    if failed is None:
        return text
    first = next((line for line in code[failed].source.splitlines() if line.strip() and not line.startswith("#")), "")
    return f"code cell {failed + 1} ({first[:80]!r}) failed: {text}"
