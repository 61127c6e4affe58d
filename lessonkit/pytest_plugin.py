"""lessonkit's pytest plugin (entry point ``pytest11``), loaded by every pytest run where lessonkit is installed.

One mechanism for tests and lessons that need a PostgreSQL server (issue 11): a test marked
``@pytest.mark.postgres``, a test using the ``postgres_server`` fixture, and every cell of a lesson whose
notebook metadata says ``"lessonkit": {"requires": ["postgres"]}`` are **skipped** when this machine has no
PostgreSQL server binaries, with the reason and the one command that installs them; under ``CI`` (any non-empty
value, as the browser tests) they **fail** instead, so CI never passes without Postgres.
"""
from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import pytest

from lessonkit import local_postgres

MARKER = "postgres"


def postgres_skip_or_fail() -> None:
    """Return when a Postgres server can be started here; else skip the test (fail it under CI), saying why."""
    why = local_postgres.missing_reason()
    if why is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"the Postgres tests and lessons must run in CI, but {why}", pytrace=False)
    pytest.skip(f"needs PostgreSQL: {why}")


@lru_cache(maxsize=64)
def notebook_requires(path: str) -> frozenset[str]:
    """What a lesson declares it needs (``metadata.lessonkit.requires``); empty for anything unreadable."""
    try:
        with open(path, encoding="utf-8") as handle:
            meta = json.load(handle).get("metadata", {}).get("lessonkit", {})
    except (OSError, ValueError, AttributeError):
        return frozenset()
    requires = meta.get("requires", []) if isinstance(meta, dict) else []
    return frozenset(str(r) for r in requires) if isinstance(requires, list) else frozenset()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}: needs a PostgreSQL server (skipped without one, failed under CI)")


def pytest_runtest_setup(item: pytest.Item) -> None:
    path = Path(str(item.path))
    needs = item.get_closest_marker(MARKER) is not None or (
        path.suffix == ".ipynb" and MARKER in notebook_requires(str(path)))
    if needs:
        postgres_skip_or_fail()
