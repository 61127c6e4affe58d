"""Names a package exports but imports on first use (PEP 562).

A process that needs one corner of lessonkit (the pytest plugin loaded by every pytest run, ``python -m lessonkit``,
the serve command's argument parser) should not pay for importing LangGraph, langchain-openai or FastAPI first:
those imports cost ~1-2 s of CPU per process, and the test suite starts many processes.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str], namespace: dict[str, Any], submodules: tuple[str, ...] = (),
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: each name in ``exports`` is taken from its module (a name
    relative to the package) the first time it is used, then kept in the package's namespace; each of ``submodules``
    is imported as a module (``lessonkit.checkpoints`` after a bare ``import lessonkit``)."""

    def __getattr__(name: str) -> Any:
        if name in submodules:
            return importlib.import_module(f".{name}", package)
        home = exports.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *exports, *submodules})

    return __getattr__, __dir__
