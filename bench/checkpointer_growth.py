"""Benchmark 5: per-turn latency and storage size as one thread grows, for each saver.

One thread, N turns of a graph that appends a human and an AI message (no model: this measures the
checkpointer alone; each answer is a different ~170 characters). Latency is the median of the 5 turns ending at 10, 100 and 1,000 turns. The savers:
SqliteSaver and AsyncSqliteSaver (a file each), PostgresSaver and AsyncPostgresSaver (a database each on a
throwaway cluster from ``lessonkit.local_postgres``, on 127.0.0.1; skipped, saying why, where PostgreSQL is not
installed, or with --no-postgres) and InMemorySaver. Size: the SQLite file after folding its write-ahead log in;
the Postgres tables with their indexes and TOAST (``pg_total_relation_size``); InMemorySaver's pickled contents. And the
payload: the bytes of the serialized checkpoints and writes those hold, before Postgres compresses them.
Run: python -m bench.checkpointer_growth [--turns 1000] [--plot notebooks/images/checkpointer_growth.svg] [--no-postgres]

``--delta``: instead, the same thread on SqliteSaver twice, once with the plain ``add_messages`` channel and once
with the messages declared as a ``DeltaChannel`` (beta in LangGraph 1.2), the two turns of each number run one
after the other so that the machine's load falls on both alike; sizes, latencies and their ratios (delta / plain)
at the marks. ``--out FILE`` writes the result there too.
Run: python -m bench.checkpointer_growth --delta --turns 1000 --out bench/results_checkpointer_growth_delta.json
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import pickle
import random
import sqlite3
import statistics
import sys
import time
import typing
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.channels import DeltaChannel
from langgraph.graph import START, StateGraph
from langgraph.graph.message import _messages_delta_reducer, add_messages  # the reducer LangGraph's DeltaChannel docs use

from lessonkit import checkpoints, local_postgres
from bench.common import workdir
from bench.plot import line_chart

TEXT = "The weather in San Francisco is mild, around 18°C, with a light breeze from the west. " * 2
# Each answer is TEXT's length in words drawn from this vocabulary, different every turn: Postgres compresses stored
# values (TOAST, pglz), and one answer repeated a thousand times compresses ~35x where real answers compress ~2.4x
# (lesson 01's recorded gpt-4o text); these words compress ~3x, so the Postgres sizes are not flattered.
VOCABULARY = """the a of in and to is with from for on at by it this that as be are will around about light mild warm cool
cold wind breeze rain fog sun cloud clouds sky morning afternoon evening night today tomorrow week weather forecast
temperature degrees high low humidity coast bay city north south east west inland San Francisco Los Angeles expect
chance showers clear skies partly sunny overcast gusts miles per hour should could might remain stay turn rise fall near
along over later early mostly slightly 18°C 21°C 14°C 60% 10% dry damp calm breezy pleasant chilly bring your jacket
layers umbrella walk outside""".split()


def answer(turn: int) -> str:
    """A different answer every turn, as long as TEXT."""
    rng, words = random.Random(turn), []
    while sum(len(w) + 1 for w in words) < len(TEXT):
        words.append(rng.choice(VOCABULARY))
    return " ".join(words)[:len(TEXT)]


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


class DeltaState(TypedDict):
    """The same messages, stored as per-step writes plus a snapshot every 100 updates (DeltaChannel's default)."""

    messages: Annotated[list[AnyMessage], DeltaChannel(_messages_delta_reducer)]


def graph(saver: Any, state: type = State) -> Any:
    builder = StateGraph(state)
    builder.add_node("answer", lambda state: {"messages": [AIMessage(answer(len(state["messages"])))]})
    builder.add_edge(START, "answer")
    return builder.compile(checkpointer=saver)


POSTGRES_BYTES = """SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'"""
# the serialized checkpoints and writes themselves, before any compression (Postgres TOAST-compresses large values)
PAYLOAD_BYTES = {
    "sqlite": """SELECT (SELECT COALESCE(SUM(LENGTH(checkpoint) + LENGTH(metadata)), 0) FROM checkpoints)
                      + (SELECT COALESCE(SUM(LENGTH(value)), 0) FROM writes)""",
    "postgres": """SELECT (SELECT COALESCE(SUM(octet_length(blob)), 0) FROM checkpoint_blobs)
                        + (SELECT COALESCE(SUM(octet_length(checkpoint::text) + octet_length(metadata::text)), 0) FROM checkpoints)
                        + (SELECT COALESCE(SUM(octet_length(blob)), 0) FROM checkpoint_writes)""",
}


def size_of(kind: str, saver: Any, where: Path | str) -> tuple[int, int]:
    """(bytes stored, bytes of serialized checkpoints and writes in them)."""
    if kind == "InMemorySaver":
        # the serialized bytes it holds (its dicts are defaultdicts of lambdas, which do not pickle)
        storage = {k: {ns: dict(v) for ns, v in d.items()} for k, d in saver.storage.items()}
        size = len(pickle.dumps((storage, dict(saver.writes), dict(saver.blobs))))
        return size, size
    if "Postgres" in kind:  # the saver's tables, their indexes and TOAST, in a database of their own
        import psycopg

        with psycopg.connect(str(where), autocommit=True) as conn:
            return int(conn.execute(POSTGRES_BYTES).fetchone()[0]), int(conn.execute(PAYLOAD_BYTES["postgres"]).fetchone()[0])
    # fold the write-ahead log into the file first, so the size is the data, not the WAL's preallocation
    with sqlite3.connect(where) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        payload = conn.execute(PAYLOAD_BYTES["sqlite"]).fetchone()[0]
    return os.path.getsize(where), int(payload)


def samples_at(marks: list[int], latencies: list[float]) -> dict[int, float]:
    return {m: statistics.median(latencies[max(0, m - 5):m]) for m in marks if m <= len(latencies)}


def summary(marks: list[int], latencies: list[float], sizes: dict[int, tuple[int, int]]) -> dict[str, Any]:
    """One saver's result: latency at the marks, size (stored, and serialized) at the marks, and the whole curve (for the plot)."""
    return {"latency_ms": {m: round(v * 1000, 2) for m, v in samples_at(marks, latencies).items()},
            "size_bytes": {m: stored for m, (stored, _) in sizes.items()}, "payload_bytes": {m: data for m, (_, data) in sizes.items()},
            "curve_ms": [round(v * 1000, 2) for v in latencies]}


def run_sync(kind: str, turns: int, marks: list[int], folder: Path, url: str | None = None) -> dict[str, Any]:
    where: Path | str = url if kind == "PostgresSaver" else folder / f"{kind}.db"
    if kind == "PostgresSaver":
        saver = checkpoints.postgres_saver(url)
    else:
        saver = checkpoints.memory_saver() if kind == "InMemorySaver" else checkpoints.sqlite_saver(where, fresh=True)
    g, config, latencies, sizes = graph(saver), {"configurable": {"thread_id": "long"}}, [], {}
    for turn in range(1, turns + 1):
        start = time.perf_counter()
        g.invoke({"messages": [HumanMessage(f"question {turn}")]}, config)
        latencies.append(time.perf_counter() - start)
        if turn in marks:
            sizes[turn] = size_of(kind, saver, where)
    if kind == "PostgresSaver":
        checkpoints.close_postgres_saver(saver)
    return summary(marks, latencies, sizes)


async def run_async(kind: str, turns: int, marks: list[int], folder: Path, url: str | None = None) -> dict[str, Any]:
    where: Path | str = url if kind == "AsyncPostgresSaver" else folder / f"{kind}.db"
    saver = await (checkpoints.async_postgres_saver(url) if url else checkpoints.async_sqlite_saver(where, fresh=True))
    g, config, latencies, sizes = graph(saver), {"configurable": {"thread_id": "long"}}, [], {}
    for turn in range(1, turns + 1):
        start = time.perf_counter()
        await g.ainvoke({"messages": [HumanMessage(f"question {turn}")]}, config)
        latencies.append(time.perf_counter() - start)
        if turn in marks:
            sizes[turn] = size_of(kind, saver, where)
    await (checkpoints.aclose_postgres_saver(saver) if url else checkpoints.close_saver(saver))
    return summary(marks, latencies, sizes)


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


def run_delta(turns: int, marks: list[int], folder: Path) -> dict[str, Any]:
    """SqliteSaver with the plain messages channel and with a DeltaChannel, turn by turn in alternation."""
    variants = {"plain": State, "delta": DeltaState}
    where = {name: folder / f"SqliteSaver-{name}.db" for name in variants}
    savers = {name: checkpoints.sqlite_saver(where[name], fresh=True) for name in variants}
    graphs = {name: graph(savers[name], state) for name, state in variants.items()}
    config = {"configurable": {"thread_id": "long"}}
    latencies: dict[str, list[float]] = {name: [] for name in variants}
    sizes: dict[str, dict[int, tuple[int, int]]] = {name: {} for name in variants}
    for turn in range(1, turns + 1):
        for name in variants:
            start = time.perf_counter()
            graphs[name].invoke({"messages": [HumanMessage(f"question {turn}")]}, config)
            latencies[name].append(time.perf_counter() - start)
            if turn in marks:
                sizes[name][turn] = size_of("SqliteSaver", savers[name], where[name])
    read = {name: [(m.type, m.content) for m in g.get_state(config).values["messages"]] for name, g in graphs.items()}
    if read["plain"] != read["delta"] or len(read["plain"]) != 2 * turns:
        raise AssertionError("the DeltaChannel thread does not read back the same messages as the plain one")
    results = {name: summary(marks, latencies[name], sizes[name]) for name in variants}
    for name, r in results.items():
        r.pop("curve_ms")
        # steadier than the median of 5 on a busy machine: the median of the 50 turns ending at each mark, and the mean of all
        r["latency_ms_50"] = {m: round(statistics.median(latencies[name][max(0, m - 50):m]) * 1000, 2) for m in marks}
        r["mean_latency_ms"] = round(statistics.fmean(latencies[name]) * 1000, 2)
    for s in savers.values():
        checkpoints.close_sync_saver(s)
    plain, delta = results["plain"], results["delta"]
    ratios = {
        "size_bytes": {m: ratio(delta["size_bytes"][m], plain["size_bytes"][m]) for m in marks},
        "payload_bytes": {m: ratio(delta["payload_bytes"][m], plain["payload_bytes"][m]) for m in marks},
        "latency_ms": {m: ratio(delta["latency_ms"][m], plain["latency_ms"][m]) for m in plain["latency_ms"]},
        "latency_ms_50": {m: ratio(delta["latency_ms_50"][m], plain["latency_ms_50"][m]) for m in marks},
        "mean_latency_ms": ratio(delta["mean_latency_ms"], plain["mean_latency_ms"]),
    }
    channel = typing.get_type_hints(DeltaState, include_extras=True)["messages"].__metadata__[0]
    return {"saver": "SqliteSaver", "snapshot_frequency": channel.snapshot_frequency, "same_messages_read_back": True,
            "variants": results, "ratios_delta_over_plain": ratios}


def main(argv: list[str] | None = None, postgres: local_postgres.LocalPostgres | None = None) -> dict:
    """Every saver in turn; ``postgres``: a running cluster to make the two databases on (else a throwaway one is started)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--no-postgres", action="store_true", help="leave the Postgres savers out")
    parser.add_argument("--delta", action="store_true", help="SqliteSaver, plain messages channel against a DeltaChannel")
    parser.add_argument("--out", type=Path, default=None, help="also write the result JSON to this file")
    args = parser.parse_args(argv)
    marks = [m for m in (10, 100, 1000) if m <= args.turns] or [args.turns]
    folder = workdir()
    if args.delta:
        command = "python -m bench.checkpointer_growth --delta --turns %d" % args.turns + (f" --out {args.out}" if args.out else "")
        out = {"benchmark": "checkpointer_growth_delta", "command": command, "turns": args.turns,
               "measured": time.strftime("%Y-%m-%d", time.gmtime()), **run_delta(args.turns, marks, folder)}
        text = json.dumps(out)
        if args.out:
            args.out.write_text(json.dumps(out, indent=1) + "\n")
        print(text)
        return out
    skipped: dict[str, str] = {}
    reason = "--no-postgres" if args.no_postgres else (local_postgres.missing_reason() if postgres is None else None)
    if reason:
        print(f"checkpointer_growth: leaving out PostgresSaver and AsyncPostgresSaver: {reason}", file=sys.stderr)
        skipped = {"PostgresSaver": reason, "AsyncPostgresSaver": reason}
    with contextlib.ExitStack() as stack:
        results = {
            "SqliteSaver": run_sync("SqliteSaver", args.turns, marks, folder),
            "AsyncSqliteSaver": asyncio.run(run_async("AsyncSqliteSaver", args.turns, marks, folder)),
        }
        if not reason:
            postgres = postgres or stack.enter_context(local_postgres.running())
            results["PostgresSaver"] = run_sync("PostgresSaver", args.turns, marks, folder, postgres.create_database())
            results["AsyncPostgresSaver"] = asyncio.run(run_async("AsyncPostgresSaver", args.turns, marks, folder, postgres.create_database()))
        results["InMemorySaver"] = run_sync("InMemorySaver", args.turns, marks, folder)
    if args.plot:
        curves = {name: r.pop("curve_ms") for name, r in results.items()}
        args.plot.write_text(line_chart(curves, title=f"Per-turn latency on one thread ({args.turns} turns)", x_label="turn", y_label="ms per turn"))
    else:
        for r in results.values():
            r.pop("curve_ms")
    out = {"benchmark": "checkpointer_growth", "turns": args.turns, "savers": results, "skipped": skipped}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
