"""Turning an exception from a run into one sentence a student can act on."""
from __future__ import annotations

from ..harness.settings import VARIABLES

HINTS = {
    401: f"the API key was refused (401): check OPENAI_API_KEY in .env, or run from the recordings with {VARIABLES['mode']}=replay",
    403: "the key is not allowed to use this model (403): pick another model or check the project's access",
    404: "the model or endpoint does not exist (404): check the model name",
    429: "the model answered 429 (rate limit or quota) on every retry: wait a minute and run the cell again, or check your billing",
    500: "the model's server failed (500) on every retry: run the cell again later",
    503: "the model's server is overloaded (503) on every retry: run the cell again later",
}


def explain_error(error: BaseException) -> str:
    """A short, specific explanation for errors from the model API; the error's own text otherwise."""
    status = getattr(error, "status_code", None)
    base = f"{type(error).__name__}: {error}"
    if status in HINTS:
        return f"{HINTS[status]}. ({type(error).__name__})"
    if isinstance(error, TimeoutError) or type(error).__name__ in ("APITimeoutError",):
        return f"the request timed out: check the network, or replay from the recordings. ({type(error).__name__})"
    return base
