"""Self-checking exercise cells: a clear ✓ or ✗ with the reason, never a bare AssertionError."""
from __future__ import annotations


def check(passed: bool, why: str, hint: str = "") -> bool:
    """Print whether an exercise answer is right, and why; returns the result for chaining."""
    if passed:
        print(f"✓ correct: {why}")
    else:
        print(f"✗ not yet. {hint or why}")
    return passed
