"""A warm process that forks test kernels: the kernel stack is imported once, not once per kernel.

A lesson kernel spends 2-3 s of CPU importing ipykernel, LangGraph and langchain-openai before its first
cell; the suite starts about a hundred of them on two cores. Each fork here is a real ipykernel, started
with the requester's argv, working folder, environment and stdio (tests/forked_kernels/launch.py sends
them), so it behaves as the one ``python -m ipykernel_launcher`` would have started.

Single-threaded on purpose (forking a threaded process is unsafe): one selector loop accepts requests,
forks, reaps children on SIGCHLD and tells each launcher its kernel's exit status. A request is declined
(``declined``) when a fork would keep something from the server that the requester has differently: its
``PYTHON*`` variables, the variables the server read while preloading (recorded as they are read, not
listed by hand), its process identity, or a module in its working folder that would shadow a preloaded one.

After preloading, the server freezes its objects (``gc.freeze``), as Python's gc documentation advises
before fork without exec: a fork's full collections then skip the preloaded heap instead of scanning
(and so copying) it all. That halves a small kernel's CPU (0.7 -> 0.3 s for a one-cell notebook). The
preloaded objects stay frozen in the kernel, which a test could observe in three ways: lessonkit's ``quiet_gc``
sees a freeze that is not its own and leaves the collector alone (its documented path for that case;
tests/test_quiet_gc.py covers the other, in the test process); ``gc.get_objects()`` and ``gc.get_referrers()``
do not list preloaded objects; and a garbage cycle through a preloaded object is never collected. No test
here inspects the collector inside a kernel; one that does must run with ``LESSONKIT_TEST_FORK_KERNELS=0``.
"""
from __future__ import annotations

import contextlib
import gc
import importlib
import importlib.machinery
import json
import os
import selectors
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from launch import process_identity, signal_kernel  # this folder is sys.path[0]: the launcher and the server measure alike

PRELOADED = (
    "ipykernel.kernelapp", "ipykernel.ipkernel", "IPython.core.interactiveshell",
    "langchain_openai", "langchain_core.messages", "langgraph.graph", "langgraph.prebuilt",
    "langgraph.checkpoint.sqlite", "langgraph.checkpoint.sqlite.aio", "nbformat",
    "lessonkit", "lessonkit.lesson", "lessonkit.checkpoints", "lessonkit.serve.app", "psycopg_pool", "langchain_tavily",
)  # Not ipywidgets (so not anywidget or lessonkit.panels): it registers its comm target at import only inside a kernel.
CANARY = "LESSONKIT_TEST_FORK_CANARY"  # read while recording: proves the recording sees reads
DECLINE_LOG = "LESSONKIT_TEST_FORK_LOG"  # a file: each declined request's folder and reason, one line each
SAID_AGAIN = {"JPY_PARENT_PID"}  # read by ipykernel at import, and given to each fork on its command line


@dataclass(frozen=True, slots=True)
class Request:
    args: list[str]
    cwd: str
    env: dict[str, str]
    stdio: list[int]


@contextlib.contextmanager
def recording_reads() -> Iterator[set[str]]:
    """The environment variables read inside the block: os.environ[...], .get, ``in`` and os.getenv all go
    through ``os._Environ.__getitem__`` (private, so the canary read below must be seen or the server stops)."""
    read: set[str] = set()
    ordinary = os._Environ.__getitem__

    def getitem(self: os._Environ, key: str) -> str:  # type: ignore[type-arg]
        read.add(key if isinstance(key, str) else os.fsdecode(key))
        return ordinary(self, key)

    os._Environ.__getitem__ = getitem  # type: ignore[method-assign]
    try:
        os.environ.get(CANARY)
        yield read
    finally:
        os._Environ.__getitem__ = ordinary  # type: ignore[method-assign]
    if CANARY not in read:
        raise SystemExit("os._Environ no longer reads through __getitem__: update recording_reads in tests/forked_kernels/server.py")


def top_level_modules() -> dict[str, str]:
    """Each loaded top-level module's name and where it lives (a package's folder, a module's file); "" for a
    namespace package, which has no one place, so that any entry of its name counts as shadowing it."""
    found = {}
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if "." not in name and (path or hasattr(module, "__path__")):
            found[name] = os.path.realpath(os.path.dirname(path) if path.endswith("__init__.py") else path) if path else ""
    return found


def module_name(entry: str) -> str:
    """The module a folder entry would be imported as: ``x.py``, ``x.cpython-311-x86_64-linux-gnu.so`` and ``x/`` are ``x``."""
    suffix = next((s for s in importlib.machinery.all_suffixes() if entry.endswith(s)), "")
    return entry.removesuffix(suffix) if suffix else entry


def shadowed(entries: list[str], cwd: str, loaded: dict[str, str]) -> list[str]:
    """Loaded modules that a kernel in ``cwd`` (first on its sys.path) would import from there instead."""
    named = {entry: module_name(entry) for entry in entries}
    return sorted({name for entry, name in named.items()
                   if name in loaded and os.path.realpath(os.path.join(cwd, entry)) != loaded[name]})


def declined(env: dict[str, str], identity: dict[str, object], shadows: list[str], own_env: dict[str, str],
             own_identity: dict[str, object], read_at_import: set[str]) -> str | None:
    """Why a kernel for this requester must start the ordinary way, or None when a fork of us is the same kernel."""
    if identity != own_identity:
        return "process identity differs: " + ", ".join(k for k in own_identity if identity.get(k) != own_identity[k])
    if shadows:
        return "its working folder holds modules the server preloaded: " + ", ".join(shadows)
    names = {n for n in {*env, *own_env} if n.startswith("PYTHON") or n in read_at_import}
    differing = sorted(n for n in names if env.get(n) != own_env.get(n))
    return f"variables read at import differ: {', '.join(differing)}" if differing else None


def become_kernel(request: Request) -> None:
    """In the fork: take the requester's stdio, folder and environment, then run ipykernel as its launcher does."""
    for target, fd in enumerate(request.stdio):
        os.dup2(fd, target)
        os.close(fd)
    os.setsid()
    os.chdir(request.cwd)
    os.environ.clear()
    os.environ.update(request.env)
    parent = request.env.get("JPY_PARENT_PID")  # ipykernel read it at import, in the server: say it again (SAID_AGAIN)
    sys.argv = ["ipykernel_launcher", *request.args, *([f"--IPKernelApp.parent_handle={parent}"] if parent else [])]
    del sys.path[0]  # this script's folder; IPython puts the kernel's working folder back (as the launcher does)
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


class Server:
    def __init__(self, path: str) -> None:
        self.path = path
        self.read_at_import: set[str] = set()  # these three are filled in by main() once the stack has loaded
        self.loaded: dict[str, str] = {}
        self.environment: dict[str, str] = {}
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.listener.bind(path)
        self.listener.listen(64)
        self.wake_read, self.wake_write = socket.socketpair()
        self.wake_write.setblocking(False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.selector.register(self.wake_read, selectors.EVENT_READ, "wake")
        self.children: dict[int, socket.socket] = {}  # kernel pid -> its launcher's connection
        self.identity = json.loads(json.dumps(process_identity()))  # as it arrives in a request: tuples become lists
        self.stopping = False

    def serve(self) -> Request | None:
        """Serve until SIGTERM (then None); in a forked child, return the request it must run."""
        signal.set_wakeup_fd(self.wake_write.fileno())
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        while not self.stopping:
            for key, _ in self.selector.select():
                if key.data == "accept":
                    conn, _ = self.listener.accept()
                    self.selector.register(conn, selectors.EVENT_READ, "request")
                elif key.data == "wake":
                    self.wake_read.recv(4096)
                    self._reap()
                else:
                    request = self._answer(key.fileobj)  # type: ignore[arg-type]
                    if request is not None:
                        return request
        self._shut_down()
        return None

    def _answer(self, conn: socket.socket) -> Request | None:
        try:
            message, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
        except OSError:  # reset by a launcher killed mid-message: gone, like a clean close
            message, fds = b"", []
        if not message:  # the launcher is gone: so must its kernel be
            self.selector.unregister(conn)
            conn.close()
            for pid, owner in list(self.children.items()):
                if owner is conn:
                    signal_kernel(pid, signal.SIGKILL)
            return None
        try:
            body = json.loads(message)
            try:
                shadows = shadowed(os.listdir(body["cwd"]), body["cwd"], self.loaded)
            except OSError as error:
                shadows = [f"(its folder cannot be listed: {error.strerror})"]
            reason = declined(body["env"], body["identity"], shadows, self.environment, self.identity, self.read_at_import)
        except (ValueError, KeyError, TypeError, AttributeError) as error:  # not our launcher's request: never fatal
            body, reason = {"cwd": "?"}, f"malformed request ({type(error).__name__})"
        if reason is not None or len(fds) != 3:
            if os.environ.get(DECLINE_LOG):
                with contextlib.suppress(OSError), open(os.environ[DECLINE_LOG], "a") as log:
                    log.write(f"{body['cwd']}: {reason or 'no stdio'}\n")
            with contextlib.suppress(OSError):
                conn.send(json.dumps({"declined": reason or "no stdio"}).encode())
            for fd in fds:
                os.close(fd)
            return None
        pid = os.fork()
        if pid == 0:
            self._leave()
            return Request(args=body["args"], cwd=body["cwd"], env=body["env"], stdio=fds)
        for fd in fds:
            os.close(fd)
        self.children[pid] = conn
        with contextlib.suppress(OSError):  # the launcher is already gone: its kernel goes at the connection's end
            conn.send(json.dumps({"pid": pid}).encode())
        return None

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if conn is not None:
                code = os.waitstatus_to_exitcode(status)
                with contextlib.suppress(OSError):
                    conn.send(json.dumps({"status": code if code >= 0 else 128 - code}).encode())

    def _leave(self) -> None:
        """In the fork: drop the server's sockets and signal handling."""
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self.selector.close()
        self.wake_write.close()

    def _stop(self, *_: object) -> None:
        self.stopping = True

    def _shut_down(self) -> None:
        for pid in list(self.children):
            signal_kernel(pid, signal.SIGKILL)
        self._reap()
        self.listener.close()
        os.unlink(self.path)


def main() -> None:
    path = sys.argv[1]
    server = Server(path)
    print("listening", flush=True)  # requests wait in the backlog while the stack loads
    with recording_reads() as read:
        for name in PRELOADED:
            importlib.import_module(name)
    if threading.active_count() != 1:  # forking a threaded process can deadlock its children
        raise SystemExit(f"a preloaded module started a thread: {threading.enumerate()}")
    server.read_at_import, server.loaded = read - {CANARY, *SAID_AGAIN}, top_level_modules()
    server.environment = dict(os.environ)  # ours as the preloaded modules left it; it does not change while serving
    gc.collect()
    gc.freeze()  # see the module docstring
    request = server.serve()
    if request is not None:
        become_kernel(request)


if __name__ == "__main__":
    main()
