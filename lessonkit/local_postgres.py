"""A throwaway PostgreSQL server on 127.0.0.1, started from the system's binaries (as pytest-postgresql does).

Lesson 07 and the tests use it so that "two servers on one Postgres" runs wherever Debian's ``postgresql``
package is installed, with no service to configure:

* ``find_binaries()`` looks for ``initdb``/``pg_ctl``/``postgres`` in ``$LESSONKIT_PG_BIN`` when it is set (and
  only there), else in the newest ``/usr/lib/postgresql/*/bin`` (Debian), then on PATH; ``missing_reason()`` says what is missing and the one
  command that installs it (``INSTALL_COMMAND``).
* ``start()`` runs ``initdb`` into a new temporary folder with a random password (scram-sha-256 for TCP and the
  socket alike) and ``pg_ctl start`` on a free port of 127.0.0.1 with its socket in that folder. ``stop()`` (also
  at exit) stops it and deletes the folder: it never touches a cluster it did not make.

PostgreSQL refuses to run as root. As root the binaries run through ``runuser -u USER``: Debian's ``postgres`` user
when it exists, else a system user ``lessonkit-pg`` created once with ``useradd --system``.
"""
from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from .harness.settings import VARIABLES, raw

__all__ = ["INSTALL_COMMAND", "LocalPostgres", "PostgresNotInstalledError", "find_binaries", "missing_reason",
           "running", "start"]

INSTALL_COMMAND = "sudo apt-get install postgresql"
BIN_VARIABLE = VARIABLES["pg_bin"]
SERVICE_USER = "lessonkit-pg"  # created (as root) only when Debian's `postgres` user is absent
SUPERUSER = "lessonkit"


class PostgresNotInstalledError(RuntimeError):
    """No PostgreSQL server binaries on this machine; the message says the command that installs them."""


def _version(path: str) -> int:
    part = path.split("/")[4] if path.count("/") >= 4 else ""
    return int(part) if part.isdigit() else 0


def find_binaries() -> str | None:
    """The folder holding initdb, pg_ctl and postgres, or None."""
    chosen = raw("pg_bin") or ""
    if chosen:  # an explicit choice is the only one looked at (set it to a folder without them to test the skip)
        candidates = [chosen]
    else:
        candidates = [os.path.dirname(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version, reverse=True)]
        on_path = shutil.which("initdb")
        if on_path:
            candidates.append(os.path.dirname(on_path))
    for folder in candidates:
        if all(os.access(os.path.join(folder, name), os.X_OK) for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def missing_reason() -> str | None:
    """None when a server can be started here; else why not, and what to run."""
    if find_binaries():
        return None
    return (f"no PostgreSQL server binaries (initdb, pg_ctl) in ${BIN_VARIABLE}, /usr/lib/postgresql/*/bin or on PATH; "
            f"install them with: {INSTALL_COMMAND}")


def _run_as() -> str | None:
    """The user to run the server as (None: this user, who is not root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", SERVICE_USER):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],
                   check=True, capture_output=True)
    return SERVICE_USER


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalPostgres:
    """One throwaway cluster: its folder (data, socket, log), port and superuser password (never in its repr)."""

    bin_dir: str
    folder: str
    user: str | None
    port: int
    password: str = field(repr=False)
    running: bool = False

    @property
    def data(self) -> str:
        return os.path.join(self.folder, "data")

    @property
    def log(self) -> str:
        return os.path.join(self.folder, "server.log")

    def url(self, database: str = "postgres", *, password: str | None = None) -> str:
        return f"postgresql://{SUPERUSER}:{password or self.password}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [os.path.join(self.bin_dir, args[0]), *args[1:]]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, cwd=self.folder, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            log = ""
            with contextlib.suppress(OSError), open(self.log) as handle:
                log = handle.read()[-2000:]
            raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr.strip()}\n{log}")
        return done

    def _options(self) -> str:
        return f"-k {self.folder} -h 127.0.0.1 -p {self.port} -c fsync=off -c full_page_writes=off"

    def init(self) -> None:
        pwfile = os.path.join(self.folder, "pwfile")
        with open(os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
            handle.write(self.password + "\n")
        if self.user:
            os.chown(pwfile, pwd.getpwnam(self.user).pw_uid, -1)
        try:
            self._run("initdb", "-D", self.data, "-U", SUPERUSER, "--auth=scram-sha-256", f"--pwfile={pwfile}",
                      "-E", "UTF8", "--no-locale", "--no-sync")
        finally:
            os.remove(pwfile)

    def start(self) -> None:
        self._run("pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "-o", self._options(), "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: end sessions cleanly; ``immediate``: as a crash would)."""
        if self.running:
            self.running = False
            with contextlib.suppress(Exception):
                self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def restart(self) -> None:
        """Stop and start again on the same port: every session is cut, every committed row stays."""
        self.stop("fast")
        self.start()

    def remove(self) -> None:
        """Stop it and delete its folder (only this throwaway cluster's)."""
        self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = name or f"db_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def start() -> LocalPostgres:
    """A new throwaway cluster, running; removed at exit (or sooner by ``.remove()``)."""
    bin_dir = find_binaries()
    if bin_dir is None:
        raise PostgresNotInstalledError(f"cannot start a throwaway Postgres: {missing_reason()}")
    user = _run_as()
    folder = tempfile.mkdtemp(prefix="lessonkit-pg-")
    if user:
        os.chown(folder, pwd.getpwnam(user).pw_uid, -1)
    os.chmod(folder, 0o700)
    server = LocalPostgres(bin_dir, folder, user, _free_port(), secrets.token_urlsafe(18))
    try:
        server.init()
        server.start()
    except BaseException:
        server.remove()
        raise
    atexit.register(server.remove)
    return server


@contextlib.contextmanager
def running() -> Iterator[LocalPostgres]:
    """start() for a block: the cluster is removed on the way out."""
    server = start()
    try:
        yield server
    finally:
        server.remove()
