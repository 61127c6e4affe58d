"""Browser harness: a real JupyterLab (or Notebook 7) server plus headless Chromium, driven through Playwright.

What it is for
--------------
Lesson notebooks show live panels (ipywidgets updated while a graph streams). nbval only sees the
final outputs, so these tests open the notebook in JupyterLab, run all cells, and read the DOM
text while the kernel is still busy -- the same thing a student sees.

Setup (once per machine; Debian)
--------------------------------
    apt-get update && apt-get install -y chromium      # Debian's build, /usr/bin/chromium
    python3 -m pip install playwright==1.65.2          # the Python package only
    # NEVER run `playwright install`: the harness uses /usr/bin/chromium, not a downloaded browser.

Override the browser with ``LESSONKIT_CHROMIUM=/path/to/chromium`` if it lives elsewhere.

Running
-------
    cd /work/main && python -m pytest -q tests/browser -p no:cacheprovider
    python -m pytest -q -m browser                     # only the browser tests
    python -m pytest -q -m "not browser"               # everything else

Outside CI the browser tests skip when Chromium or Playwright is missing; with ``CI`` set in the
environment they fail instead. Screenshots (for people, never compared) land in
``tests/browser/screenshots/``. The server log of each run is ``JupyterLab.log_path`` (inside the
run's temp dir, which is kept -- and its path printed to stderr -- when the ``with`` block
fails); the tests put it in their assertion messages.

Usage
-----
    with JupyterLab([nb_path, recordings_dir], env={"LESSONKIT_MODE": "replay"}) as lab:  # front_end="notebook": Notebook 7
        with LabPage(lab, nb_path.name) as page:
            page.run_all()
            seen = page.sample_while_running(".probe", interval_s=0.05, timeout_s=60)
            page.wait_idle_after_run(timeout_s=60)
            assert page.texts(".probe") == ["step 29"]
            page.screenshot(SCREENSHOTS / "probe.png", selector=".probe")

How it works (all verified with jupyterlab 4.6.6 / jupyter_server 2.21 / Chromium 156)
--------------------------------------------------------------------------------------
* The server runs on 127.0.0.1 with an empty token, XSRF off and ``expose_app_in_browser`` on,
  so ``window.jupyterapp`` exists. Root dir, workspaces dir, user-settings dir, Jupyter config dir
  and runtime dir are all fresh temp dirs: nothing from the machine's own Jupyter setup leaks in.
* The user settings switch off news/update toasts and set the notebook ``windowingMode`` to
  ``"none"`` so every cell's output is attached to the DOM (the default, contentVisibility, skips
  rendering off-screen cells; "none" removes any doubt about ``innerText`` of long notebooks).
  Override with ``JupyterLab(..., lab_settings={plugin_id: {...}})``.
* ``run_all()`` starts ``notebook:run-all-cells``; that command's promise settles only when every
  cell has finished (or the run stopped at an error), and it resolves to ``false`` if a cell
  failed. ``wait_idle_after_run`` waits for that promise *and* for the kernel to report idle.
* The kernel inherits the server's environment: pass lesson settings through ``env=``.
* As root (CI containers) ``--ServerApp.allow_root=True`` is added; ``--ServerApp.port_retries=0``
  makes a port clash an error, and the harness retries with a new free port (3 attempts).
* ``LabPage`` collapses the left sidebar after load (``collapse_left=False`` keeps it).
* ``JupyterLab(..., front_end="notebook")`` serves Notebook 7 instead (``python -m notebook``, verified
  with notebook 7.6.5 on the same jupyterlab 4.6.6): the page is ``/notebooks/<path>`` and the app is
  exposed as ``window.jupyterapp`` by ``--JupyterNotebookApp.expose_app_in_browser``. Its shell has the
  same ``widgets('main')``, ``activateById`` and commands (``notebook:run-all-cells``), and reads the same
  user settings, so every page helper below works on both; it has no left sidebar to collapse.
* On exit the server gets SIGTERM (its process group), then SIGKILL after a grace period; kernels
  (jupyter_client starts them in their own session) are found as descendants beforehand and
  killed by pid if they outlive the server.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any, Iterable, Mapping, Sequence

from lessonkit.harness.record_command import pid_alive

CHROMIUM_PATH = os.environ.get("LESSONKIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
VIEWPORT: dict[str, int] = {"width": 1280, "height": 1000}

# Lab user settings written into the fresh user-settings dir (plugin id -> settings).
DEFAULT_LAB_SETTINGS: dict[str, dict[str, Any]] = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
}


def write_notebook(path: Path, cells: Sequence[Any]) -> Path:
    """Save ``cells`` as a notebook on the python3 kernel (what the browser tests open)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = list(cells)
    nbformat.write(nb, path)
    return path


def missing_requirements() -> str | None:
    """Why browser tests cannot run here, or None when Playwright and Chromium are both present."""
    problems: list[str] = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("the Python package 'playwright' is not installed (pip install playwright)")
    if not (os.path.isfile(CHROMIUM_PATH) and os.access(CHROMIUM_PATH, os.X_OK)):
        problems.append(f"no Chromium at {CHROMIUM_PATH} (apt-get install -y chromium)")
    return "; ".join(problems) or None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _descendants(pid: int) -> list[int]:
    """All live descendant pids of ``pid`` (Linux /proc walk; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Field 4 (ppid) follows the ")" that closes the command name.
        fields = stat[stat.rfind(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    out: list[int] = []
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


FRONT_ENDS: tuple[str, ...] = ("lab", "notebook")  # JupyterLab, Notebook 7


class JupyterLab:
    """A JupyterLab (or, with ``front_end="notebook"``, Notebook 7) server on 127.0.0.1 serving a fresh temp copy of ``files``.

    ``files``: notebooks and any extra files or folders (e.g. ``recordings/``); each is copied
    into the root dir under its own name. ``env``: added to (and overriding) this process's
    environment for the server and therefore for its kernels.
    """

    def __init__(
        self,
        files: Iterable[str | os.PathLike[str]],
        env: Mapping[str, str] | None = None,
        *,
        lab_settings: Mapping[str, Mapping[str, Any]] | None = None,
        startup_timeout_s: float = 60.0,
        keep_tmp: bool = False,
        front_end: str = "lab",
    ) -> None:
        if front_end not in FRONT_ENDS:
            raise ValueError(f"front_end must be one of {FRONT_ENDS}, not {front_end!r}")
        self.front_end = front_end
        self.files = [Path(f) for f in files]
        self.env = dict(env or {})
        self.lab_settings: dict[str, dict[str, Any]] = {k: dict(v) for k, v in DEFAULT_LAB_SETTINGS.items()}
        for plugin, values in (lab_settings or {}).items():
            self.lab_settings.setdefault(plugin, {}).update(values)
        self.startup_timeout_s = startup_timeout_s
        self.keep_tmp = keep_tmp
        self.tmp: Path | None = None
        self.root_dir: Path | None = None
        self.log_path: Path | None = None
        self.port: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("JupyterLab is not running")
        return f"http://127.0.0.1:{self.port}"

    def notebook_url(self, notebook: str) -> str:
        """Where this front end opens ``notebook`` (JupyterLab with a fresh workspace, or Notebook 7's page)."""
        if self.front_end == "notebook":
            return f"{self.url}/notebooks/{notebook}"
        return f"{self.url}/lab/tree/{notebook}?reset"

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> "JupyterLab":
        try:
            self.start()
        except BaseException:
            self.stop(keep_tmp=True)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # After a failure keep the temp dir (server log, notebook as saved) for debugging.
        self.stop(keep_tmp=self.keep_tmp or exc_type is not None)

    def start(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="lessonkit-lab-"))
        self.root_dir = self.tmp / "root"
        self.root_dir.mkdir()
        for src in self.files:
            dest = self.root_dir / src.name
            if src.is_dir():
                shutil.copytree(src, dest)
            else:
                shutil.copy2(src, dest)
        for sub in ("workspaces", "user-settings", "jupyter-config", "runtime"):
            (self.tmp / sub).mkdir()
        for plugin, values in self.lab_settings.items():
            pkg, _, name = plugin.partition(":")
            target = self.tmp / "user-settings" / pkg / f"{name}.jupyterlab-settings"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(values))
        self.log_path = self.tmp / "jupyterlab.log"
        self._log_file = open(self.log_path, "ab")

        last_error = ""
        for _attempt in range(3):  # the free port can be taken between probe and bind
            self.port = _free_port()
            self._spawn()
            try:
                self._wait_ready()
                return
            except _PortTaken as e:
                last_error = str(e)
                self._terminate()
        raise RuntimeError(f"JupyterLab could not bind a port: {last_error}")

    def _spawn(self) -> None:
        assert self.tmp is not None and self.root_dir is not None
        env = dict(os.environ)
        env.update(self.env)
        env["JUPYTER_CONFIG_DIR"] = str(self.tmp / "jupyter-config")
        env["JUPYTER_RUNTIME_DIR"] = str(self.tmp / "runtime")
        env.pop("JUPYTER_TOKEN", None)
        app = "JupyterNotebookApp" if self.front_end == "notebook" else "LabApp"
        cmd = [
            # not "-m jupyter lab": that runs the first jupyter-lab on PATH
            sys.executable, "-m", "notebook" if self.front_end == "notebook" else "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            "--ServerApp.disable_check_xsrf=True",
            "--ServerApp.terminals_enabled=False",
            f"--{app}.expose_app_in_browser=True",
            f"--{app}.workspaces_dir={self.tmp / 'workspaces'}",
            f"--{app}.user_settings_dir={self.tmp / 'user-settings'}",
            f"--ServerApp.root_dir={self.root_dir}",
        ]
        if self.front_end == "lab":
            cmd.append("--LabApp.news_url=")
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI containers run as root
            cmd.append("--ServerApp.allow_root=True")
        self._log_file.write(("\n$ " + " ".join(cmd) + "\n").encode())
        self._log_file.flush()
        self.proc = subprocess.Popen(
            cmd,
            cwd=self.root_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_tail()
                if "already in use" in tail or "Address already" in tail:
                    raise _PortTaken(tail[-300:])
                raise RuntimeError(
                    f"JupyterLab exited with code {self.proc.returncode}; log {self.log_path}:\n{tail}"
                )
            try:
                with urllib.request.urlopen(self.url + "/api/status", timeout=2) as resp:
                    if resp.status == 200:
                        json.load(resp)
                        return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            time.sleep(0.2)
        raise TimeoutError(
            f"JupyterLab did not answer /api/status within {self.startup_timeout_s} s; "
            f"log {self.log_path}:\n{self.log_tail()}"
        )

    def log_tail(self, chars: int = 4000) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        if self._log_file is not None:
            self._log_file.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def _terminate(self, grace_s: float = 10.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        kids = _descendants(proc.pid)  # kernels run in their own session: remember them now
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=10)
        deadline = time.monotonic() + 3
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in kids:
                if pid_alive(pid):
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
            while time.monotonic() < deadline and any(pid_alive(p) for p in kids):
                time.sleep(0.1)
            deadline = time.monotonic() + 3

    def stop(self, *, keep_tmp: bool | None = None) -> None:
        """Stop the server (and its kernels); remove the temp dir unless asked to keep it."""
        try:
            self._terminate()
        finally:
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None
            keep = self.keep_tmp if keep_tmp is None else keep_tmp
            if self.tmp is not None:
                if keep:
                    sys.stderr.write(f"[harness] kept JupyterLab temp dir {self.tmp} (log {self.log_path})\n")
                else:
                    shutil.rmtree(self.tmp, ignore_errors=True)


class _PortTaken(RuntimeError):
    pass


# JS snippets -------------------------------------------------------------------------------------
_JS_FIND_PANEL = """
(path) => {
  const app = window.jupyterapp;
  if (!app || !app.shell) return null;
  for (const w of Array.from(app.shell.widgets('main'))) {
    if (w && w.context && w.context.path === path && w.sessionContext) return w;
  }
  return null;
}
"""

_JS_KERNEL_STATUS = (
    "(path) => { const find = " + _JS_FIND_PANEL + ";"
    " const p = find(path); if (!p) return 'no-panel';"
    " const s = p.sessionContext; if (!s.isReady || !s.session || !s.session.kernel) return 'starting';"
    " return s.session.kernel.status; }"
)


class LabPage:
    """A headless Chromium page showing one notebook of a running :class:`JupyterLab`."""

    def __init__(
        self,
        lab: JupyterLab,
        notebook: str,
        *,
        viewport: Mapping[str, int] | None = None,
        ready_timeout_s: float = 90.0,
        collapse_left: bool = True,
    ) -> None:
        self.lab = lab
        self.notebook = notebook
        self.viewport = dict(viewport or VIEWPORT)
        self.ready_timeout_s = ready_timeout_s
        self.collapse_left = collapse_left
        self._pw: Any = None
        self._browser: Any = None
        self.page: Any = None  # playwright.sync_api.Page
        self.console: list[str] = []

    def __enter__(self) -> "LabPage":
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def open(self) -> None:
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        self._browser = self._pw.chromium.launch(executable_path=CHROMIUM_PATH, args=list(CHROMIUM_ARGS))
        context = self._browser.new_context(viewport=self.viewport)
        self.page = context.new_page()
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        self.page.goto(self.lab.notebook_url(self.notebook), wait_until="domcontentloaded")
        self.page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.shell", timeout=self.ready_timeout_s * 1000
        )
        self.wait_kernel_idle(self.ready_timeout_s)
        if self.collapse_left:  # more room for the notebook in screenshots (Notebook 7 has no left area open)
            self.page.evaluate("() => window.jupyterapp.shell.collapseLeft && window.jupyterapp.shell.collapseLeft()")

    def save_and_reload(self, timeout_s: float = 60.0) -> None:
        """Save the notebook, reload the page and wait for its kernel (still running) to be idle again.

        The reloaded page asks the kernel for every widget's state: what a late view of a widget gets.
        """
        self.page.evaluate(
            """(path) => { const find = """ + _JS_FIND_PANEL + """; const panel = find(path);
              if (!panel) throw new Error('notebook panel not found: ' + path);
              return panel.context.save(); }""",
            self.notebook,
        )
        self.page.reload(wait_until="domcontentloaded")
        self.page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell", timeout=timeout_s * 1000)
        self.wait_kernel_idle(timeout_s)

    def close(self) -> None:
        try:
            if self._browser is not None:
                self._browser.close()
        finally:
            self._browser = None
            if self._pw is not None:
                self._pw.stop()
                self._pw = None

    # -- kernel state --------------------------------------------------------------------------
    def kernel_status(self) -> str:
        """'no-panel' | 'starting' | a Jupyter kernel status ('idle', 'busy', ...)."""
        return str(self.page.evaluate(_JS_KERNEL_STATUS, self.notebook))

    def wait_kernel_idle(self, timeout_s: float = 60.0) -> None:
        self.page.wait_for_function(
            f"(path) => ({_JS_KERNEL_STATUS})(path) === 'idle'", arg=self.notebook, timeout=timeout_s * 1000
        )

    # -- running -------------------------------------------------------------------------------
    def run_all(self) -> None:
        """Start ``notebook:run-all-cells`` (returns at once; see :meth:`wait_idle_after_run`)."""
        self.page.evaluate(
            """(path) => {
              const find = """ + _JS_FIND_PANEL + """;
              const panel = find(path);
              if (!panel) throw new Error('notebook panel not found: ' + path);
              window.jupyterapp.shell.activateById(panel.id);
              window.__lkRun = {done: false, ok: null, error: null};
              window.jupyterapp.commands.execute('notebook:run-all-cells').then(
                (ok) => { window.__lkRun = {done: true, ok: ok !== false, error: null}; },
                (e) => { window.__lkRun = {done: true, ok: false, error: String(e)}; });
            }""",
            self.notebook,
        )

    def run_state(self) -> dict[str, Any]:
        """``{'done': bool, 'ok': bool|None, 'error': str|None}`` of the last :meth:`run_all`."""
        return dict(self.page.evaluate("() => window.__lkRun || {done: true, ok: null, error: null}"))

    def _run_finished(self) -> bool:
        return bool(
            self.page.evaluate(
                "(path) => { const r = window.__lkRun; return (!r || r.done) && ("
                + _JS_KERNEL_STATUS
                + ")(path) === 'idle'; }",
                self.notebook,
            )
        )

    def wait_idle_after_run(self, timeout_s: float = 120.0, *, require_ok: bool = True) -> dict[str, Any]:
        """Wait until every cell of the last run finished and the kernel is idle.

        Raises AssertionError when a cell failed (``require_ok``), TimeoutError on timeout.
        """
        deadline = time.monotonic() + timeout_s
        while not self._run_finished():
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"notebook still running after {timeout_s} s (kernel {self.kernel_status()}, "
                    f"run {self.run_state()})"
                )
            time.sleep(0.1)
        state = self.run_state()
        if require_ok and state.get("ok") is False:
            errors = self.texts(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
            raise AssertionError(f"run-all-cells stopped at an error: {state}; stderr outputs: {errors}")
        return state

    # -- reading -------------------------------------------------------------------------------
    def texts(self, selector: str, prop: str = "innerText") -> list[str]:
        """``innerText`` (or ``prop``, e.g. ``textContent``: the exact characters) of every match, in document order."""
        return [str(t) for t in self.page.eval_on_selector_all(selector, f"els => els.map(e => e[{prop!r}])")]

    def sample_while_running(self, selector: str, interval_s: float = 0.05, timeout_s: float = 120.0, prop: str = "innerText") -> list[str]:
        """Poll the joined text (``prop`` of each match) of ``selector`` until the run finishes; return the
        distinct successive values seen (consecutive duplicates collapsed; empty while absent is skipped).

        Call right after :meth:`run_all`. The last value is read after the run finished.
        """
        js = (
            "([sel, path]) => { const r = window.__lkRun;"
            f" const text = Array.from(document.querySelectorAll(sel)).map(e => e[{prop!r}]).join('\\n');"
            " const done = (!r || r.done) && (" + _JS_KERNEL_STATUS + ")(path) === 'idle';"
            " return [text, done]; }"
        )
        seen: list[str] = []
        deadline = time.monotonic() + timeout_s
        while True:
            text, done = self.page.evaluate(js, [selector, self.notebook])
            if text and (not seen or seen[-1] != text):
                seen.append(str(text))
            if done:
                return seen
            if time.monotonic() > deadline:
                raise TimeoutError(f"still running after {timeout_s} s; values so far: {seen[-5:]}")
            time.sleep(interval_s)

    # -- pictures ------------------------------------------------------------------------------
    def scroll_into_view(self, selector: str) -> None:
        """Scroll the first match to the middle of the notebook panel."""
        self.page.eval_on_selector(selector, "e => e.scrollIntoView({block: 'center', inline: 'nearest'})")
        self.page.wait_for_timeout(200)

    def screenshot(self, path: str | os.PathLike[str], selector: str | None = None, *, element_only: bool = False) -> Path:
        """Save a PNG (for people; never compared). With ``selector`` the first match is scrolled
        into view first; ``element_only`` crops to that element instead of the whole viewport."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        if selector is not None:
            self.scroll_into_view(selector)
            if element_only:
                self.page.locator(selector).first.screenshot(path=str(out))
                return out
        self.page.screenshot(path=str(out))
        return out


__all__: Sequence[str] = [
    "CHROMIUM_ARGS",
    "CHROMIUM_PATH",
    "DEFAULT_LAB_SETTINGS",
    "FRONT_ENDS",
    "JupyterLab",
    "LabPage",
    "VIEWPORT",
    "missing_requirements",
]
