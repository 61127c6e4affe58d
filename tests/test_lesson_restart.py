"""Lesson 01's restart exercise, followed literally: run the whole lesson, restart the kernel, run one cell."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from jupyter_core.utils import run_sync
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
LESSON = NOTEBOOKS / "01_persistence_and_threads.ipynb"


def test_the_restart_cell_finds_thread_1_after_a_full_run_and_a_real_kernel_restart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LESSONKIT_DATA_DIR", str(tmp_path))  # the kernel's databases: not the ones nbval's run of lesson 01 uses
    notebook = nbformat.read(LESSON, as_version=4)
    restart = next(i for i, c in enumerate(notebook.cells) if c.cell_type == "code" and "no fresh=True" in c.source)
    assert "Restart the kernel now" in notebook.cells[restart - 1].source
    client = NotebookClient(notebook, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(NOTEBOOKS)}})
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)
        before = client.km.provisioner.pid
        run_sync(client.km.restart_kernel)(now=True)
        run_sync(client.kc.wait_for_ready)(timeout=60)
        assert client.km.provisioner.pid != before  # a new kernel process: nothing from the run is in memory
        probe = nbformat.v4.new_code_cell("print('thread_1' in globals(), 'agent' in globals())")
        notebook.cells.append(probe)
        client.execute_cell(probe, len(notebook.cells) - 1)
        cell = notebook.cells[restart]
        cell.outputs = []
        client.execute_cell(cell, restart)
    assert probe.outputs[0]["text"] == "False False\n"
    text = "".join(o.get("text", "") for o in cell.outputs if o["output_type"] == "stream")
    assert "thread 1 holds 12 messages" in text and "What is the weather in sf?" in text, text
    assert not [o for o in cell.outputs if o["output_type"] == "error"]
