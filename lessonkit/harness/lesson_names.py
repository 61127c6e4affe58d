"""One name decides the recording: the notebook's file name and its ``lessonkit.start("NAME")`` must agree.

A lesson copied as a starting point keeps the original's start cell; recording it would overwrite
the original lesson's recording. Both ``lessonkit record`` (before anything runs) and record mode in a
running kernel (before anything is written) check the two names against each other.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterable

from ..errors import RecordingNameError
from .settings import VARIABLES

# lessonkit.start("NAME", ...) or start('NAME'): the first argument, a plain string literal.
_START_CALL = re.compile(r"""(?:\blessonkit\.|(?<![\w.]))start\(\s*(?:name\s*=\s*)?(["'])([^"'\\\n]+)\1""")
_COMMENT = re.compile(r"#.*$", re.M)  # a commented-out start call names nothing


def declared_names(sources: Iterable[str]) -> list[str]:
    """Every lesson name passed to ``start(...)`` in these code cells, in order."""
    return [m.group(2) for source in sources for m in _START_CALL.finditer(_COMMENT.sub("", source))]


def notebook_sources(notebook: Any) -> list[str]:
    """The code cells of an nbformat notebook, as text."""
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


def mismatch_message(notebook: str, declared: str, recordings: str) -> str:
    """Why a record would be refused, naming both names and the two ways out."""
    return (
        f"{notebook} calls lessonkit.start({declared!r}), but the notebook is named {Path(notebook).stem!r}. "
        f"Recording it would write {recordings}/{declared}.json, the recording of lesson {declared!r}. "
        f"Change the start cell to lessonkit.start({Path(notebook).stem!r}) (a copied lesson gets its own "
        f"recording), or record the notebook named {declared}.ipynb. Nothing was written."
    )


def check_notebook_names(path: Path, notebook: Any) -> str:
    """The lesson name a notebook records under; RecordingNameError if its start cell disagrees or is missing."""
    names = declared_names(notebook_sources(notebook))
    shown = os.path.relpath(path)
    if not names:
        raise RecordingNameError(
            f"{shown} never calls lessonkit.start(\"{path.stem}\"), so it has no recording to refresh. "
            "Add that call to its first code cell (see the README's lessons)."
        )
    for name in names:
        if name != path.stem:
            raise RecordingNameError(mismatch_message(shown, name, os.path.relpath(path.parent / "recordings")))
    return path.stem


def running_notebook(env: dict[str, str] | None = None) -> str | None:
    """The notebook this kernel runs, if the front end says: lessonkit's CLI sets LESSONKIT_NOTEBOOK,
    Jupyter Server sets JPY_SESSION_NAME (the session's path)."""
    env = dict(os.environ) if env is None else env
    for variable in (VARIABLES["notebook"], "JPY_SESSION_NAME"):
        value = env.get(variable, "").strip()
        if value.endswith(".ipynb"):
            return value
    return None


def check_running_name(name: str, recordings: Path, env: dict[str, str] | None = None) -> None:
    """Record mode in a kernel: refuse when the notebook being run is not the lesson named ``name``."""
    notebook = running_notebook(env)
    if notebook is not None and Path(notebook).stem != name:
        raise RecordingNameError(mismatch_message(notebook, name, os.path.relpath(recordings)))
