"""The suite's forked kernels (tests/forked_kernels) are the kernels ``python -m ipykernel_launcher`` would start.

Each test starts a real kernel through the ``python3`` kernelspec the session put on JUPYTER_PATH, so
through the launcher and the session's fork server, and asks the kernel about itself.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_client.manager import KernelManager

from tests import forked_kernels

pytestmark = pytest.mark.skipif(forked_kernels.SOCKET_VARIABLE not in os.environ, reason="kernel forks switched off")

ASK = "import gc, json, os, sys; print(json.dumps({'cwd': os.getcwd(), 'marker': os.environ.get('LK_FORK_MARKER'), " \
      "'preloaded': 'langchain_openai' in sys.modules, 'pid': os.getpid(), 'parent': get_ipython().kernel.parent.parent_handle, " \
      "'frozen': gc.get_freeze_count()}))"


def output_of(manager: KernelManager, code: str, timeout: float = 60) -> tuple[str, dict]:
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=timeout)
        chunks: list[str] = []
        reply = client.execute_interactive(code, timeout=timeout, output_hook=lambda m: chunks.append(
            m["content"].get("text", "") if m["msg_type"] == "stream" else ""))
        return "".join(chunks), reply["content"]
    finally:
        client.stop_channels()


@pytest.fixture
def kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[KernelManager]:
    monkeypatch.setenv("LK_FORK_MARKER", "from-the-requester")
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(cwd=str(tmp_path))
    yield manager
    if manager.is_alive():
        manager.shutdown_kernel(now=True)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


def test_the_kernelspec_is_the_launcher() -> None:
    from ipykernel.kernelspec import get_kernel_dict

    spec = KernelManager(kernel_name="python3").kernel_spec
    assert spec is not None and spec.argv[1].endswith("tests/forked_kernels/launch.py")
    ours = {k: v for k, v in spec.to_dict().items() if k in get_kernel_dict()}
    assert {**ours, "argv": None} == {**get_kernel_dict(), "argv": None}  # the rest is ipykernel's own (encryption too)


def test_nbvals_current_env_kernel_is_the_launcher_too() -> None:
    from ipykernel.kernelspec import get_kernel_dict  # what nbval's --nbval-current-env starts

    assert get_kernel_dict()["argv"][:2] == forked_kernels.launcher_command(forked_kernels.ORDINARY_COMMAND)[:2]


def test_a_forked_kernel_has_the_requesters_folder_environment_and_parent(kernel: KernelManager, tmp_path: Path) -> None:
    text, _ = output_of(kernel, ASK)
    seen = json.loads(text)
    assert seen["cwd"] == str(tmp_path) and seen["marker"] == "from-the-requester"
    assert seen["preloaded"], "the kernel started cold: the fork server was not used"
    assert seen["frozen"] > 100_000  # the preloaded heap: full collections in the kernel skip it
    assert seen["parent"] == os.getpid()  # JPY_PARENT_PID, said again on the command line
    assert seen["pid"] != kernel.provisioner.process.pid  # type: ignore[union-attr]  (the launcher's)


def test_interrupt_reaches_the_forked_kernel(kernel: KernelManager) -> None:
    client = kernel.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        msg_id = client.execute("import time; time.sleep(60)")
        time.sleep(1.0)
        kernel.interrupt_kernel()
        reply = client.get_shell_msg(timeout=30)
        while reply["parent_header"].get("msg_id") != msg_id:  # wait_for_ready's kernel_info reply may come first
            reply = client.get_shell_msg(timeout=30)
        assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "KeyboardInterrupt"
    finally:
        client.stop_channels()


def test_killing_the_launcher_takes_the_kernel_down(kernel: KernelManager) -> None:
    text, _ = output_of(kernel, ASK)
    pid = json.loads(text)["pid"]
    os.kill(kernel.provisioner.process.pid, signal.SIGKILL)  # type: ignore[union-attr]
    for _ in range(200):
        if not alive(pid):
            break
        time.sleep(0.05)
    assert not alive(pid), "the forked kernel outlived its launcher"


def started_ordinarily(cwd: Path, code: str = "") -> str:
    """Start a kernel in ``cwd``; what ``code`` prints, after a line saying whether the stack was preloaded."""
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(cwd=str(cwd))
    try:
        text, _ = output_of(manager, "import sys; print('langchain_openai' not in sys.modules)\n" + code)
    finally:
        manager.shutdown_kernel(now=True)
    first, _, rest = text.partition("\n")
    assert first == "True", "a requester that differs got a forked kernel"
    return rest.strip()


@pytest.mark.parametrize("name, value", [
    ("PYTHONWARNINGS", "default"),  # an interpreter setting
    ("LANGGRAPH_DEFAULT_RECURSION_LIMIT", "7"),  # read by langgraph as the server preloaded it (recorded, not listed)
])
def test_a_requester_whose_import_time_settings_differ_gets_an_ordinary_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str,
) -> None:
    monkeypatch.setenv(name, value)
    assert started_ordinarily(tmp_path, f"import os; print(os.environ[{name!r}])") == value


def test_a_folder_with_a_module_that_shadows_a_preloaded_one_gets_an_ordinary_kernel(tmp_path: Path) -> None:
    (tmp_path / "lessonkit").mkdir()
    (tmp_path / "lessonkit" / "__init__.py").write_text("WHOSE = 'the folder'\n")
    assert started_ordinarily(tmp_path, "import lessonkit; print(lessonkit.WHOSE)") == "the folder"


def test_a_launcher_gone_before_its_answer_leaves_the_server_serving(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Closing with the server's answer unread resets the connection (ECONNRESET on the server's next read);
    a request that is not a launcher's is declined."""
    from tests.forked_kernels.launch import process_identity

    request = {"args": ["-f", str(tmp_path / "gone.json")], "cwd": str(tmp_path), "env": dict(os.environ),
               "identity": process_identity()}
    for _ in range(3):
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        conn.connect(os.environ[forked_kernels.SOCKET_VARIABLE])
        socket.send_fds(conn, [json.dumps(request).encode()], [0, 1, 2])
        time.sleep(0.3)  # the fork's pid is waiting, unread
        conn.close()
    for malformed in (b"not json", json.dumps({"args": []}).encode()):  # not a launcher's: declined, never fatal
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        conn.connect(os.environ[forked_kernels.SOCKET_VARIABLE])
        socket.send_fds(conn, [malformed], [0, 1, 2])
        assert json.loads(conn.recv(4096))["declined"].startswith("malformed request")
        conn.close()
    monkeypatch.setenv("LK_FORK_MARKER", "after-the-resets")
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(cwd=str(tmp_path))
    try:
        seen = json.loads(output_of(manager, ASK)[0])
    finally:
        manager.shutdown_kernel(now=True)
    assert seen["preloaded"] and seen["marker"] == "after-the-resets"
