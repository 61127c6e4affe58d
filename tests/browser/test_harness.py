"""Proves the browser harness on a throw-away notebook: live widget updates are visible mid-run."""
from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
import pytest

from tests.browser.harness import JupyterLab, LabPage, missing_requirements, write_notebook

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"


def require_browser() -> None:
    """Fail in CI, skip elsewhere, when Playwright or Chromium is missing."""
    why = missing_requirements()
    if why is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"browser tests must run in CI, but {why}", pytrace=False)
    pytest.skip(f"browser tests need Playwright and Chromium: {why}")


def make_probe_notebook(path: Path) -> Path:
    return write_notebook(path, [
        nbformat.v4.new_markdown_cell("# Harness probe\nA widget updated 30 times while the cell runs."),
        nbformat.v4.new_code_cell(
            'import ipywidgets as w, asyncio\nh = w.HTML(value="")\nh.add_class("probe")\ndisplay(h)'
        ),
        nbformat.v4.new_code_cell('for i in range(30):\n    h.value = f"step {i}"\n    await asyncio.sleep(0.1)'),
        # The kernel must inherit the server's env (tests/conftest.py sets the speed to "0" here).
        nbformat.v4.new_code_cell('import os\nprint("speed=" + os.environ.get("LESSONKIT_REPLAY_SPEED", "?"))'),
    ])


def test_live_widget_updates_are_seen_mid_run(tmp_path: Path) -> None:
    require_browser()
    nb = make_probe_notebook(tmp_path / "probe.ipynb")
    t0 = time.monotonic()
    with JupyterLab([nb], env={"LESSONKIT_MODE": "replay", "LESSONKIT_REPLAY_SPEED": "1"}) as lab:
        with LabPage(lab, nb.name) as page:
            t_ready = time.monotonic()
            page.run_all()
            seen = page.sample_while_running(".probe", interval_s=0.03, timeout_s=60)
            page.wait_idle_after_run(timeout_s=60)
            t_run = time.monotonic()
            final = page.texts(".probe")
            shot = page.screenshot(SCREENSHOTS / "harness_probe.png", selector=".probe")
            info = f"seen={seen} console={page.console[-10:]} log={lab.log_path}\n{lab.log_tail(1500)}"
            partial = [v for v in seen if v.startswith("step ") and v != "step 29"]
            assert len(set(partial)) >= 5, info
            assert all(v.startswith("step ") for v in seen), info
            assert final == ["step 29"], info
            assert seen[-1] == "step 29", info
            assert any(t.strip() == "speed=1" for t in page.texts(".jp-OutputArea-output")), info
            assert shot.stat().st_size > 10_000
    print(f"lab+page ready {t_ready - t0:.1f}s, run {t_run - t_ready:.1f}s, distinct values {len(seen)}")
