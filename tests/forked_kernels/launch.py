"""The test kernelspec's ``argv``: ask the warm fork server for a kernel, else start one the ordinary way.

jupyter_client manages this process as "the kernel": it signals it and waits for it. So it passes its
stdio to the forked kernel, forwards every signal it gets, and exits with the kernel's status. If its
own parent dies (a SIGKILLed ``lessonkit record``), it takes the kernel down, as ipykernel's parent
poller would. Imports only the standard library: it starts in ~20 ms.
"""
from __future__ import annotations

import json
import os
import resource
import signal
import socket
import sys

SOCKET_VARIABLE = "LESSONKIT_TEST_KERNEL_FORKS"  # the fork server's socket path, for every process the run starts
ORDINARY_COMMAND = [sys.executable, "-m", "ipykernel_launcher"]
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
PARENT_CHECK_S = 0.5


def process_identity() -> dict[str, object]:
    """What a process inherits besides its environment: a fork must match its requester in all of it."""
    mask = os.umask(0o022)
    os.umask(mask)
    with open("/proc/self/status") as status:
        capabilities = [line.strip() for line in status if line.startswith("Cap")]
    limits = {name: resource.getrlimit(getattr(resource, name)) for name in dir(resource) if name.startswith("RLIMIT_")}
    return {"uid": os.getresuid(), "gid": os.getresgid(), "groups": sorted(os.getgroups()), "umask": mask,
            "capabilities": capabilities, "limits": {k: list(v) for k, v in sorted(limits.items())},
            "nice": os.getpriority(os.PRIO_PROCESS, 0)}


def signal_kernel(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:  # it has just exited: its status is on the way
        pass


def ordinary(args: list[str]) -> None:
    os.execv(sys.executable, [*ORDINARY_COMMAND, *args])


def forked(path: str, args: list[str]) -> int | None:
    """The kernel's exit status, or None when the server declined (then start the ordinary way)."""
    parent = os.getppid()
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        conn.connect(path)
    except OSError:
        return None
    request = json.dumps({"args": args, "cwd": os.getcwd(), "env": dict(os.environ), "identity": process_identity()}).encode()
    socket.send_fds(conn, [request], [0, 1, 2])
    reply = json.loads(conn.recv(65536) or b"{}")
    if "pid" not in reply:
        return None
    pid = reply["pid"]
    for signum in FORWARDED:
        signal.signal(signum, lambda number, _frame: signal_kernel(pid, number))
    conn.settimeout(PARENT_CHECK_S)
    while True:
        try:
            message = conn.recv(65536)
        except (TimeoutError, InterruptedError):
            if os.getppid() != parent:  # whoever started us is gone: so is the kernel
                signal_kernel(pid, signal.SIGKILL)
                return 1
            continue
        return int(json.loads(message)["status"]) if message else 1


def main() -> None:
    args = sys.argv[1:]
    path = os.environ.get(SOCKET_VARIABLE)
    status = forked(path, args) if path else None
    if status is None:
        ordinary(args)
    sys.exit(status)


if __name__ == "__main__":
    main()
