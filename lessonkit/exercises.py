"""Self-checking exercise cells: a clear ✓ or ✗ with the reason, never a bare AssertionError."""
from __future__ import annotations


def check(passed: bool, why: str, hint: str = "") -> None:
    """Print whether an exercise answer is right and why (prints, so a cell shows no stray value)."""
    if passed:
        print(f"✓ correct: {why}")
    else:
        print(f"✗ not yet. {hint or why}")
