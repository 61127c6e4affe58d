"""The Postgres the tests use: one throwaway cluster per run, from ``lessonkit.local_postgres``.

The one mechanism for "is there a Postgres to test against?" (issue 11), shared by these fixtures and by
lesson 07 under nbval (``lessonkit.harness.pytest_plugin``, loaded by every pytest run, decides for both):

* no server binaries: the test is **skipped** saying why and the one command that installs them; with ``CI`` set
  (``CI=true``) it **fails** instead, so CI never passes without Postgres (as tests/browser does for Chromium);
* ``postgres_server`` (session fixture): one cluster for the whole run, removed at the end;
* ``postgres_url`` (function fixture): a fresh, empty database on it for each test.

Use it from a test module with ``from tests.postgres_server import postgres_server, postgres_url  # noqa: F401``.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from lessonkit import local_postgres
from lessonkit.local_postgres import LocalPostgres
from lessonkit.harness.pytest_plugin import postgres_skip_or_fail

PostgresServer = LocalPostgres


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[LocalPostgres]:
    postgres_skip_or_fail()
    with local_postgres.running() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: LocalPostgres) -> str:
    return postgres_server.create_database()
