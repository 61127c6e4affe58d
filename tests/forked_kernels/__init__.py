"""Test kernels forked from one warm process (server.py), through a ``python3`` kernelspec on JUPYTER_PATH.

Every kernel the suite starts (nbclient's in ``lessonkit run``/``record`` subprocesses, JupyterLab's)
finds the ``python3`` kernelspec here first; nbval (``--nbval-current-env``) asks ipykernel for the current
interpreter's kernel command, so in pytest processes that load tests/conftest.py that answer names the
launcher too (``use_in_nbval``). The launcher asks the server for a fork and starts an ordinary
``ipykernel_launcher`` when there is no server or the server declines.
``LESSONKIT_TEST_FORK_KERNELS=0`` turns the whole thing off (every kernel then starts cold);
``LESSONKIT_TEST_FORK_LOG=<file>`` makes the server write there why it declined each request it declined.
"""
from __future__ import annotations

import contextlib
import os
import select
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.forked_kernels.launch import ORDINARY_COMMAND, SOCKET_VARIABLE

HERE = Path(__file__).resolve().parent
SWITCH_VARIABLE = "LESSONKIT_TEST_FORK_KERNELS"
LISTEN_LIMIT_S = 60


def launcher_command(command: list[str]) -> list[str]:
    """ipykernel's kernel command with our launcher in place of ``python -m ipykernel_launcher``."""
    if command[:3] != ORDINARY_COMMAND:
        raise RuntimeError(f"ipykernel's kernel command changed shape: {command}; update tests/forked_kernels")
    return [sys.executable, str(HERE / "launch.py"), *command[3:]]


def use_in_nbval() -> None:
    """nbval's ``--nbval-current-env`` kernel (ipykernel.kernelspec.get_kernel_dict) goes through the launcher."""
    from ipykernel import kernelspec

    ordinary = kernelspec.get_kernel_dict
    if getattr(ordinary, "forked", False):
        return

    def get_kernel_dict(*args: object, **kwargs: object) -> dict[str, object]:
        spec = ordinary(*args, **kwargs)  # type: ignore[arg-type]
        return {**spec, "argv": launcher_command(list(spec["argv"]))}  # type: ignore[arg-type]

    get_kernel_dict.forked = True  # type: ignore[attr-defined]
    kernelspec.get_kernel_dict = get_kernel_dict


def wanted() -> bool:
    """Off when switched off, and when an outer pytest already runs a server its kernels use."""
    return os.environ.get(SWITCH_VARIABLE, "1") != "0" and SOCKET_VARIABLE not in os.environ


def write_kernelspec(folder: Path) -> Path:
    """ipykernel's own ``python3`` kernelspec (logos, metadata, encryption, protocol) with our launcher as its argv."""
    from ipykernel import kernelspec

    spec = folder / "kernels" / kernelspec.KERNEL_NAME
    kernelspec.write_kernel_spec(spec, overrides={"argv": launcher_command(kernelspec.make_ipkernel_cmd())})
    return spec


@contextlib.contextmanager
def running() -> Iterator[Path]:
    """Start the server and point this process's environment (so its children's) at it; stop it after."""
    folder = Path(tempfile.mkdtemp(prefix="lk-forks-"))
    socket_path = folder / "server.sock"
    write_kernelspec(folder)
    server = subprocess.Popen([sys.executable, str(HERE / "server.py"), str(socket_path)],
                              stdout=subprocess.PIPE, text=True)
    saved = {name: os.environ.get(name) for name in (SOCKET_VARIABLE, "JUPYTER_PATH")}
    try:
        assert server.stdout is not None
        ready, _, _ = select.select([server.stdout], [], [], LISTEN_LIMIT_S)
        line = server.stdout.readline() if ready else f"nothing in {LISTEN_LIMIT_S} s"
        if line.strip() != "listening":
            raise RuntimeError(f"the kernel fork server did not start (exit {server.poll()}): {line!r}")
        os.environ[SOCKET_VARIABLE] = str(socket_path)
        os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(folder), saved["JUPYTER_PATH"]) if p)
        yield folder
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(folder, ignore_errors=True)
