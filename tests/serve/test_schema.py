"""schemathesis against the running server's /openapi.json: no 500, no response that breaks the schema.

A real uvicorn with a tokens file (so schemathesis's ``ignored_auth`` check sees the 401 without a token),
and the ``st`` CLI in a subprocess with every check on, a fixed seed (a failure reproduces) and at most
20 examples per operation across its coverage, fuzzing and stateful phases: about 30-45 s here.

What it covers: every HTTP operation in the schema, the SSE ones included (status, content type,
headers; an event stream's body has no JSON Schema to check, its events are tests/serve's job). The
WebSocket is not in an OpenAPI schema at all, so it is tested by hand (test_auth, test_run_control).
"""
from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import serve
from .fakes import Gate
from .test_auth import ALICE, SETTINGS
from .test_run_control import gated_app

MAX_EXAMPLES = 20
RUN_LIMIT_S = 300  # a hung run fails the test instead of the suite
CLI = "import sys; from schemathesis.cli import schemathesis; sys.exit(schemathesis())"


def test_schemathesis_finds_no_server_error_and_no_schema_violation(module_tmp: Path) -> None:
    pytest.importorskip("schemathesis")
    gate = Gate()
    gate.open()  # a generated message that starts with "gated" must not wait
    settings = dataclasses.replace(SETTINGS, run_timeout_s=20)
    with serve(gated_app(module_tmp / "schema.db", gate, settings)) as running:
        result = subprocess.run(
            [sys.executable, "-c", CLI, "run", f"{running.url}/openapi.json",
             "--header", f"Authorization: Bearer {ALICE}", "--checks", "all", "--max-examples", str(MAX_EXAMPLES),
             "--seed", "20251", "--workers", "1", "--request-timeout", "20", "--no-color"],
            cwd=module_tmp, check=False, capture_output=True, text=True, timeout=RUN_LIMIT_S)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-6000:]
    assert "Tested:" in report and " passed" in report
    assert ALICE not in report  # schemathesis sanitizes the header in its output; so does the server in its answers
