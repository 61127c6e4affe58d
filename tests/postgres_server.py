"""A throwaway PostgreSQL server for tests, started from the system's binaries (as pytest-postgresql does).

The one mechanism for "is there a Postgres to test against?" (issue 11):

* ``require_postgres()`` finds the server binaries: ``LESSONKIT_PG_BIN`` (a folder holding ``initdb`` and
  ``pg_ctl``), else the newest ``/usr/lib/postgresql/*/bin`` (Debian's ``postgresql`` package), else ``initdb``
  on PATH. None found: the test is **skipped** saying why and the one command that installs them
  (``apt-get install postgresql``); with ``CI`` set (``CI=true``) it **fails** instead, so CI never passes without Postgres
  (as tests/browser does for Chromium).
* ``postgres_server`` (session fixture) starts one cluster for the whole run: ``initdb`` into a temporary folder
  with a random password (scram-sha-256, for TCP and the socket alike), ``pg_ctl start`` listening on 127.0.0.1
  on a free port with its socket in that folder, and stops it (``-m immediate``) and deletes the folder at the end.
* ``postgres_url`` (function fixture) is a fresh, empty database on that server for each test:
  ``postgresql://lessonkit:<password>@127.0.0.1:<port>/<db>``.

PostgreSQL refuses to run as root. As root the binaries run through ``runuser -u USER``: Debian's ``postgres``
user when it exists, else a system user ``lessonkit-pg`` created once with ``useradd --system``. As any other
user they run as that user.

Use it from a test module with ``from tests.postgres_server import postgres_server, postgres_url  # noqa: F401``.
"""
from __future__ import annotations

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
from dataclasses import dataclass

import pytest

INSTALL_COMMAND = "apt-get install postgresql"
BIN_VARIABLE = "LESSONKIT_PG_BIN"
SERVICE_USER = "lessonkit-pg"  # created (as root) only when Debian's `postgres` user is absent
SUPERUSER = "lessonkit"


def find_binaries() -> str | None:
    """The folder holding initdb and pg_ctl, or None."""
    chosen = os.environ.get(BIN_VARIABLE, "").strip()
    candidates = [chosen] if chosen else []
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                    key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0, reverse=True)
    candidates += [os.path.dirname(p) for p in debian]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(os.path.dirname(on_path))
    for folder in candidates:
        if all(os.access(os.path.join(folder, name), os.X_OK) for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def require_postgres() -> str:
    """The binaries' folder; else skip (fail under CI=true) naming the install command."""
    folder = find_binaries()
    if folder:
        return folder
    why = (f"no PostgreSQL server binaries (initdb, pg_ctl) in ${BIN_VARIABLE}, /usr/lib/postgresql/*/bin or on PATH; "
           f"install them with: {INSTALL_COMMAND}")
    if os.environ.get("CI"):  # as tests/browser does: any non-empty CI
        pytest.fail(f"the Postgres tests must run in CI, but {why}", pytrace=False)
    pytest.skip(f"Postgres tests skipped: {why}")


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
class PostgresServer:
    bin_dir: str
    folder: str  # holds data/, the socket and the log
    user: str | None
    port: int
    password: str

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

    def start(self) -> None:
        pwfile = os.path.join(self.folder, "pwfile")
        with open(pwfile, "w") as handle:
            handle.write(self.password + "\n")
        if self.user:
            os.chown(pwfile, pwd.getpwnam(self.user).pw_uid, -1)
        try:
            self._run("initdb", "-D", self.data, "-U", SUPERUSER, "--auth=scram-sha-256", f"--pwfile={pwfile}",
                      "-E", "UTF8", "--no-locale", "--no-sync")
        finally:
            os.remove(pwfile)
        options = f"-k {self.folder} -h 127.0.0.1 -p {self.port} -c fsync=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "-o", options, "start")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; its URL."""
        import psycopg  # only once Postgres is known to be there

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """Start a throwaway cluster; stop it and delete its folder on the way out."""
    bin_dir = require_postgres()
    user = _run_as()
    folder = tempfile.mkdtemp(prefix="lessonkit-pg-")
    if user:
        os.chown(folder, pwd.getpwnam(user).pw_uid, -1)
    os.chmod(folder, 0o700)
    server = PostgresServer(bin_dir, folder, user, _free_port(), secrets.token_urlsafe(18))
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    return postgres_server.create_database()
