"""Browser tests: register the ``browser`` marker (pyproject.toml stays untouched)."""
from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: drives JupyterLab in headless Chromium (needs playwright + /usr/bin/chromium)"
    )
