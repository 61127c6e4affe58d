"""What a model call cost, in US dollars, from its token usage and an offline price table.

Prices come from the ``genai-prices`` package (pydantic's maintained table of LLM API prices): its
data ships inside the package and is read from there, never fetched (its ``UpdatePrices`` is never
started), so a lesson replays the same cost with no network. Cached input tokens are priced at the
model's cache-read rate (gpt-4o: half the input rate). A model the table does not know gives
``Unknown``, with the reason, instead of a guess; a turn total with such a call says it is partial.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from typing import Iterable, Sequence, Union

UNKNOWN_PRICE = "unknown price"


@dataclass(frozen=True)
class Price:
    """A priced call: ``usd`` in total, and the table's model and provider it was priced as."""

    usd: Decimal
    model: str  # the table's id for the model (``gpt-4o-2024-08-06`` is priced as ``gpt-4o``)
    provider: str
    input_usd: Decimal = Decimal(0)  # input tokens, cached ones at their own rate
    output_usd: Decimal = Decimal(0)

    def __str__(self) -> str:
        return format_usd(self.usd)


@dataclass(frozen=True)
class Unknown:
    """A call that could not be priced, and why (the model is not in the table, or no usage came back)."""

    reason: str
    short: str = UNKNOWN_PRICE  # what a table cell shows

    def __str__(self) -> str:
        return self.short


Cost = Union[Price, Unknown]


@dataclass(frozen=True)
class TurnCost:
    """The sum over one turn's model calls; ``partial`` when some of them could not be priced."""

    usd: Decimal
    priced: int
    unpriced: int
    reasons: tuple[str, ...] = ()  # why the unpriced calls have no price, each once

    @property
    def partial(self) -> bool:
        return self.unpriced > 0

    def __str__(self) -> str:
        return format_turn_cost(self)


def table_version() -> str:
    """Which price table: ``genai-prices 0.2.3`` (the installed package's version), or ``none`` if missing."""
    try:
        return f"genai-prices {version('genai-prices')}"
    except PackageNotFoundError:
        return "no price table (pip install genai-prices)"


def price(model: str | None, provider: str | None, input_tokens: int | None, cached_input_tokens: int | None,
          output_tokens: int | None) -> Cost:
    """One call's cost from its usage; ``input_tokens`` counts the cached ones too (as OpenAI and LangChain report).

    ``provider`` None lets the table pick the provider from the model's name (``gpt-4o`` → OpenAI).
    """
    if input_tokens is None or output_tokens is None:
        return Unknown("a call reported no token usage (it did not finish, or the API sent none)", short="no usage")
    if not model:
        return Unknown("a call's model is not known")
    return _price(model, provider, input_tokens, min(cached_input_tokens or 0, input_tokens), output_tokens)


@lru_cache(maxsize=1024)
def _price(model: str, provider: str | None, input_tokens: int, cached: int, output_tokens: int) -> Cost:
    try:
        from genai_prices import Usage, calc_price  # imported on first use: the bundled table takes ~0.2 s to load
    except ImportError:
        return Unknown(f"{table_version()}: {model} cannot be priced")
    usage = Usage(input_tokens=input_tokens, cache_read_tokens=cached, output_tokens=output_tokens)
    try:
        result = calc_price(usage, model_ref=model, provider_id=provider)
    except LookupError:
        return Unknown(f"{model} is not in the price table" + (f" for {provider}" if provider else ""))
    return Price(usd=result.total_price, model=result.model.id, provider=result.provider.id,
                 input_usd=result.input_price, output_usd=result.output_price)


def turn_cost(costs: Iterable[Cost]) -> TurnCost:
    """Add up a turn's calls: the known prices, and how many calls had none."""
    total, priced, reasons = Decimal(0), 0, []
    for cost in costs:
        if isinstance(cost, Price):
            total, priced = total + cost.usd, priced + 1
        else:
            reasons.append(cost.reason)
    return TurnCost(total, priced, len(reasons), tuple(dict.fromkeys(reasons)))


def add_turns(turns: Sequence[TurnCost]) -> TurnCost:
    """A conversation's cost: its turns added up (partial if any turn was)."""
    return TurnCost(sum((t.usd for t in turns), Decimal(0)), sum(t.priced for t in turns), sum(t.unpriced for t in turns),
                    tuple(dict.fromkeys(r for t in turns for r in t.reasons)))


def format_usd(usd: Decimal) -> str:
    """``$0.0025``: two significant digits below a dollar (a call costs fractions of a cent), cents above."""
    if usd == 0:
        return "$0.00"
    if usd >= 1:
        return f"${usd.quantize(Decimal('0.01'), ROUND_HALF_UP)}"
    places = max(2, -usd.adjusted() + 1)  # 0.00245 → adjusted -3 → 4 places → 0.0025
    rounded = usd.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
    if rounded.adjusted() > usd.adjusted() and places > 2:  # 0.000995 → 0.0010: one digit fewer is enough
        rounded = usd.quantize(Decimal(1).scaleb(-(places - 1)), ROUND_HALF_UP)
    return f"${rounded:f}"


def format_turn_cost(turn: TurnCost) -> str:
    """``$0.0048``; ``at least $0.0025 (1 of 2 calls: unknown price)`` when partial; ``unknown price`` if none was priced."""
    calls = turn.priced + turn.unpriced
    if not turn.partial:
        return format_usd(turn.usd)
    if turn.priced == 0:
        return UNKNOWN_PRICE
    return f"at least {format_usd(turn.usd)} ({turn.unpriced} of {calls} calls: {UNKNOWN_PRICE})"


def cost_parts(turn: TurnCost) -> tuple[str, str]:
    """The turn's amount (``$0.0048``, ``at least $0.0025``, ``unknown price``) and what it covers, from which table."""
    calls = turn.priced + turn.unpriced
    amount = UNKNOWN_PRICE if turn.priced == 0 else ("at least " if turn.partial else "") + format_usd(turn.usd)
    why = "; ".join(turn.reasons)
    if turn.partial:
        why = f": {why}" if turn.priced == 0 else f", {turn.unpriced} with {UNKNOWN_PRICE}: {why}"
    return amount, f" for {calls} model call{'' if calls == 1 else 's'}{why} (USD, {table_version()} price table, offline)"


def cost_line(turn: TurnCost) -> str:
    """The timings text's cost line (nothing to say for a turn without model calls)."""
    return "cost   " + "".join(cost_parts(turn)) if turn.priced + turn.unpriced else ""


__all__ = ["Cost", "Price", "TurnCost", "Unknown", "UNKNOWN_PRICE", "add_turns", "cost_line", "cost_parts", "format_usd", "price", "table_version", "turn_cost"]
