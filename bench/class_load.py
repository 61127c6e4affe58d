"""Benchmark 9: a class of students against ``lessonkit serve``: one instance on SQLite, one on Postgres, two on one Postgres.

N simulated students (asyncio tasks in this process, httpx + httpx-sse, the SSE client of bench/serve_load.py)
each hold a conversation of T turns on their own new thread, one turn after the other, all N starting at once.
The servers are real ``python -m lessonkit serve`` processes (``lessonkit.serve.instances``) serving the lesson
agent in replay from an authored recording: one conversation of T turns, each answer ``--tokens`` pieces of 4.3
characters, its first token ``--first-token`` s after the request and then one every ``--interval`` s, so speed 1
paces the replies as a model would. Every student asks the same T questions, so the recording needs just that one
conversation (its keys hold the whole history: turn k is a different request from turn k-1).

Three configurations, side by side in one run, in this order:

* ``sqlite``: one instance on a SQLite file;
* ``postgres``: one instance on a Postgres database (a throwaway cluster from ``lessonkit.local_postgres``);
* ``two_instances``: two instances on one Postgres database, each student's turns alternating between them
  (turn 1 on A, turn 2 on B, ...; every other student starts on B, so the class is spread over both at every
  moment): a client moving between instances continues the same conversation.

Each instance is started fresh and warmed by one turn on a thread of its own before the students start.
Measured per configuration: turns per second (answers that arrived whole / wall time from the first request to
the last answer), TTFT (request sent -> first ``token`` event), errors (a non-200, an ``error`` event, no
``[DONE]``, or an answer that is not the recorded one for that turn), and turns lost: after the instances stop,
every thread is read straight from the database with ``lessonkit.checkpoints`` and must hold exactly its
questions and answers, in order; turns lost = turns sent - turns found. The process exits 1 if any turn is lost
(or a thread holds anything else).
Every wait is bounded (per request, per round, overall). With ``--runs`` > 1 figures are medians over rounds and
ratios medians of the per-round ratios.

Run: python -m bench.class_load [--students 50] [--turns 5] [--runs 1] [--speed 1] [--configs sqlite,postgres,two_instances]
(docs/benchmarks.md section 9: --runs 5, its output saved as bench/results_class_load.json)
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from langchain_core.messages import HumanMessage

import lessonkit
from lessonkit import checkpoints, local_postgres
from lessonkit.postgres import check_database
from lessonkit.harness.recording import Cassette, Reply, Script
from lessonkit.serve.identity import LOCAL_USER, stored_thread_id  # every caller of a server without --tokens is LOCAL_USER
from lessonkit.serve.instances import Instance, start_instance
from bench.common import long_answer, now, workdir
from bench.serve_load import QUESTION, Server, Stream, sse_client, summary

NAME = "class_load"
CONFIGS = ("sqlite", "postgres", "two_instances")
QUIET_CORES = 0.25  # a round is quiet when other work on the machine used less than this many cores during it


# ---------------------------------------------------------------- the recording

def answers(turns: int, tokens: int) -> list[str]:
    """The recorded answer of each turn: distinct, so an answer given at the wrong turn is caught."""
    return [f"Turn {k + 1}. {long_answer(tokens)}" for k in range(turns)]


def record(folder: Path, texts: list[str], first_token_s: float, interval_s: float) -> None:
    """Author ``folder/class_load.json``: the lesson agent (search tool bound) answering QUESTION once a turn, on one thread."""
    replies = [Reply(content=text, first_token_s=first_token_s, chunk_interval_s=interval_s) for text in texts]
    lesson = lessonkit.Lesson(NAME, "record", 0.0, Cassette(folder / f"{NAME}.json"),
                              script=Script(replies=replies, note=f"class_load: {len(texts)} turns"))
    graph = lessonkit.build_agent(lesson.chat_model(), [lesson.search_tool()], checkpointer=checkpoints.memory_saver())
    for _ in texts:
        graph.invoke({"messages": [HumanMessage(QUESTION)]}, {"configurable": {"thread_id": "rec"}})


# ---------------------------------------------------------------- the class

async def student(clients: list[httpx.AsyncClient], first: int, thread: str, texts: list[str], timeout_s: float) -> list[Stream]:
    """One student's turns, in sequence, each on the next instance from ``first`` on: with two, A B A B A or B A B A B."""
    return [await sse_client(clients[(first + k) % len(clients)], thread, text, timeout_s) for k, text in enumerate(texts)]


async def class_round(urls: list[str], threads: list[str], texts: list[str], timeout_s: float) -> tuple[list[Stream], float]:
    """Every student at once; the streams of every turn and the wall time from the first request to the last answer."""
    limits = httpx.Limits(max_connections=len(threads) + 10, max_keepalive_connections=len(threads) + 10)
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(timeout_s), limits=limits))
                   for url in urls]
        start = now()
        # student i starts on instance i mod n, so at every moment the class is spread over all of them
        per_student = await asyncio.gather(*(student(clients, i, thread, texts, timeout_s) for i, thread in enumerate(threads)))
        wall = now() - start
    return [stream for streams in per_student for stream in streams], wall


def turns_found(messages: list[Any], texts: list[str]) -> int:
    """How many turns the stored conversation holds whole and in order from its start: question k, then answer k."""
    found = 0
    while found < len(texts) and 2 * found + 1 < len(messages):
        question, answer = messages[2 * found], messages[2 * found + 1]
        if (question.type, question.content, answer.type, answer.content) != ("human", QUESTION, "ai", texts[found]):
            break
        found += 1
    return found


def read_back(database: str, expected: dict[str, int], texts: list[str]) -> tuple[int, int, int]:
    """(turns found, threads in the database, threads holding anything but their turns), read straight from the
    SQLite file or the Postgres database after the servers stopped."""
    postgres = database.startswith("postgresql://")
    saver = checkpoints.postgres_saver(database) if postgres else checkpoints.sqlite_saver(database)
    found = odd = 0
    try:
        stored = checkpoints.list_threads(saver)
        for thread, turns in expected.items():
            messages = checkpoints.thread_messages(saver, stored_thread_id(LOCAL_USER, thread))
            whole = min(turns_found(messages, texts), turns)
            found, odd = found + whole, odd + (len(messages) != 2 * whole)
    finally:
        (checkpoints.close_postgres_saver if postgres else checkpoints.close_sync_saver)(saver)
    return found, len(stored), odd


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of all cores, from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def cluster_cpu_s(postgres: local_postgres.LocalPostgres | None) -> float:
    """User + system CPU seconds of the cluster's postmaster and its live children (backends, writers), from /proc."""
    if postgres is None:
        return 0.0
    with open(os.path.join(postgres.data, "postmaster.pid")) as pidfile:
        postmaster = int(pidfile.readline())
    total = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):  # a backend may end while it is read
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                if int(entry) == postmaster or int(fields[1]) == postmaster:
                    total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def cpu_now(servers: list[Server], postgres: local_postgres.LocalPostgres | None) -> dict[str, float]:
    """Where the CPU goes: the servers, this process (the students), the Postgres cluster, and the whole machine."""
    busy, total = machine_busy()
    return {"server": sum(s.cpu_s() for s in servers), "client": time.process_time(), "postgres": cluster_cpu_s(postgres),
            "busy": busy / os.sysconf("SC_CLK_TCK"), "total": total / os.sysconf("SC_CLK_TCK")}


def spin(seconds: float, out: Any) -> None:
    """Count loop turns for ``seconds`` (pure Python, like a server's event loop), into ``out.value``."""
    end, count = now() + seconds, 0
    while now() < end:
        count += 1
    out.value = count


def parallel_work(processes: int, seconds: float) -> int:
    """Loop turns ``processes`` busy processes get through together in ``seconds``."""
    context = multiprocessing.get_context("fork")
    counts = [context.Value("q", 0) for _ in range(processes)]
    workers = [context.Process(target=spin, args=(seconds, count)) for count in counts]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(seconds + 30)
        if worker.is_alive():
            worker.kill()
    return sum(count.value for count in counts)


def parallel_speedup(seconds: float) -> float | None:
    """What this machine gives a second busy process: work of two at once / work of one alone (2.0 on two free cores)."""
    if seconds <= 0:
        return None
    one, two, again = parallel_work(1, seconds), parallel_work(2, seconds), parallel_work(1, seconds)
    return round(2 * two / max(one + again, 1), 3)


def start_instances(count: int, database: str, folder: Path, speed: float, extra: tuple[str, ...]) -> list[Instance]:
    """``count`` instances on one database, started side by side (each waits, bounded, for its /health)."""
    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(start_instance, database=database, mode="replay", speed=speed, recordings=folder,
                               lesson=NAME, extra=extra) for _ in range(count)]
        started, failure = [], None
        for future in futures:
            try:
                started.append(future.result())
            except RuntimeError as error:
                failure = error
    if failure is not None:
        for instance in started:
            instance.stop()
        raise failure
    return started


def run_config(name: str, database: str, count: int, folder: Path, args: argparse.Namespace, texts: list[str],
               tag: str, deadline: float, postgres: local_postgres.LocalPostgres | None) -> dict[str, Any]:
    """One configuration, one round: fresh instances, a warm-up turn each, the class, the stop, the count."""
    extra = ("--max-streams", str(args.students + 20), "--run-timeout", str(args.client_timeout))
    instances = start_instances(count, database, folder, args.speed, extra)
    threads = [f"{tag}-s{i}" for i in range(args.students)]
    warm = [f"{tag}-warm{j}" for j in range(count)]
    servers = [Server(i.process, i.url, i.log) for i in instances]
    try:
        async def go() -> tuple[list[Stream], list[Stream], float, dict[str, float]]:
            async with asyncio.timeout_at(deadline):
                warmed = []
                for instance, thread in zip(instances, warm):  # imports and first-call work, before anything is timed
                    warmed += (await class_round([instance.url], [thread], texts[:1], args.client_timeout))[0]
                before = cpu_now(servers, postgres)
                streams, wall = await class_round([i.url for i in instances], threads, texts, args.client_timeout)
                after = cpu_now(servers, postgres)
                return warmed, streams, wall, {k: after[k] - before[k] for k in after}

        try:
            warmed, streams, wall, cpu = asyncio.run(go())
        except TimeoutError:
            raise TimeoutError(f"{name}: the benchmark passed its overall limit (--overall-timeout)") from None
        if any(s.error for s in warmed):
            raise RuntimeError(f"{name}: a warm-up turn failed: {[s.error for s in warmed]}\n{instances[0].log_tail()}")
    finally:
        for instance in instances:
            instance.stop()
    expected = {**{t: len(texts) for t in threads}, **{t: 1 for t in warm}}
    found, stored, odd = read_back(database, expected, texts)
    figures = summary(streams, wall)
    whole, sent = sum(s.error is None for s in streams), max(len(streams), 1)
    return {
        "instances": count, "turns": whole, "turns_sent": len(streams), "turns_per_s": whole / wall, "wall_s": wall,
        "ttft_p50_s": figures["ttft_median_s"], "ttft_p95_s": figures["ttft_p95_s"], "reply_median_s": figures["total_median_s"],
        "errors": figures["errors"], "error_kinds": figures["error_kinds"],
        "turns_expected": sum(expected.values()), "turns_found": found, "turns_lost": sum(expected.values()) - found,
        "threads_expected": len(expected), "threads_in_database": stored, "threads_not_as_sent": odd,
        "server_cpu_ms_per_turn": 1000 * cpu["server"] / sent, "client_cpu_ms_per_turn": 1000 * cpu["client"] / sent,
        "postgres_cpu_ms_per_turn": 1000 * cpu["postgres"] / sent if postgres is not None else None,
        "machine_busy": cpu["busy"] / max(cpu["total"], 1e-9),  # of all cores, whoever used them
        "bench_cores": (cpu["server"] + cpu["client"] + cpu["postgres"]) / wall,  # cores used by the servers, students and Postgres
        "other_cores": max(0.0, cpu["busy"] - cpu["server"] - cpu["client"] - cpu["postgres"]) / wall,  # by anything else running
    }


def median_of(rounds: list[dict[str, Any]], key: str) -> Any:
    values = [r[key] for r in rounds if r.get(key) is not None]
    return statistics.median(values) if values else None


def combine(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One configuration's figures over rounds: medians of rates and times, sums of counts."""
    out: dict[str, Any] = {"instances": rounds[0]["instances"]}
    for key in ("turns_per_s", "wall_s", "ttft_p50_s", "ttft_p95_s", "reply_median_s", "server_cpu_ms_per_turn",
                "client_cpu_ms_per_turn", "postgres_cpu_ms_per_turn", "machine_busy", "bench_cores", "other_cores"):
        value = median_of(rounds, key)
        out[key] = None if value is None else round(value, 4 if key.startswith("ttft") else 3)
    for key in ("turns", "turns_sent", "errors", "turns_expected", "turns_found", "turns_lost", "threads_expected", "threads_in_database", "threads_not_as_sent"):
        out[key] = sum(r[key] for r in rounds)
    out["error_kinds"] = sorted({k for r in rounds for k in r["error_kinds"]})[:5]
    out["rounds_turns_per_s"] = [round(r["turns_per_s"], 2) for r in rounds]
    out["rounds_other_cores"] = [round(r["other_cores"], 2) for r in rounds]  # other work on the machine, round by round
    return out


def ratio(rounds: dict[str, list[dict[str, Any]]], top: str, bottom: str, key: str, quiet: bool = False) -> float | None:
    """Median of the per-round ratios top / bottom of ``key``; ``quiet``: only rounds where nothing else used the machine."""
    values = [a[key] / b[key] for a, b in zip(rounds[top], rounds[bottom]) if a.get(key) and b.get(key)
              and (not quiet or max(a["other_cores"], b["other_cores"]) < QUIET_CORES)]
    return round(statistics.median(values), 3) if values else None


def command(args: argparse.Namespace) -> str:
    words = ["python -m bench.class_load", f"--students {args.students}", f"--turns {args.turns}"]
    words += [f"--runs {args.runs}"] * (args.runs != 1) + [f"--speed {args.speed:g}"] * (args.speed != 1.0)
    words += [f"--configs {','.join(args.configs)}"] * (tuple(args.configs) != CONFIGS)
    return " ".join(words)


def main(argv: list[str] | None = None, postgres: local_postgres.LocalPostgres | None = None) -> dict:
    """Run the configurations; ``postgres``: a running cluster to make the databases on (else a throwaway one is started)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=50)
    parser.add_argument("--turns", type=int, default=5, help="turns per student")
    parser.add_argument("--runs", type=int, default=1, help="rounds; every configuration runs once per round")
    parser.add_argument("--speed", type=float, default=1.0, help="replay pacing (1: as recorded, 0: instant)")
    parser.add_argument("--configs", type=lambda s: s.split(","), default=list(CONFIGS), help="comma-separated, of " + ",".join(CONFIGS))
    parser.add_argument("--tokens", type=int, default=40, help="pieces in each recorded answer")
    parser.add_argument("--first-token", type=float, default=0.3, help="recorded seconds to the first token")
    parser.add_argument("--interval", type=float, default=0.02, help="recorded seconds between pieces")
    parser.add_argument("--client-timeout", type=float, default=60.0, help="hard limit on one turn")
    parser.add_argument("--probe-seconds", type=float, default=2.0,
                        help="length of each run of the parallel-speedup probe before and after the rounds (0: none)")
    parser.add_argument("--overall-timeout", type=float, default=900.0, help="hard limit on the whole benchmark")
    args = parser.parse_args(argv)
    unknown = set(args.configs) - set(CONFIGS)
    if unknown:
        parser.error(f"unknown configurations {sorted(unknown)}: choose from {','.join(CONFIGS)}")
    deadline = time.monotonic() + args.overall_timeout  # asyncio's loop clock: every round's loop stops at it
    recorded_s = args.first_token + args.tokens * args.interval
    folder = workdir()
    texts = answers(args.turns, args.tokens)
    record(folder, texts, args.first_token, args.interval)
    wanted, skipped = [c for c in CONFIGS if c in args.configs], {}
    needs_postgres = any(c != "sqlite" for c in wanted)
    reason = local_postgres.missing_reason() if needs_postgres and postgres is None else None
    if reason:
        print(f"class_load: skipping the Postgres configurations: {reason}", file=sys.stderr)
        skipped = {c: reason for c in wanted if c != "sqlite"}
        wanted = [c for c in wanted if c == "sqlite"]
    load_before, speedup_before = os.getloadavg(), parallel_speedup(args.probe_seconds)
    rounds: dict[str, list[dict[str, Any]]] = {c: [] for c in wanted}
    with contextlib.ExitStack() as stack:
        if postgres is None and any(c != "sqlite" for c in wanted):
            postgres = stack.enter_context(local_postgres.running())
        for r in range(args.runs):
            for name in wanted[r % len(wanted):] + wanted[:r % len(wanted)]:  # each round starts one configuration later
                tag = f"{name.replace('_', '-')}-r{r}"
                if name == "sqlite":
                    database, cluster = str(Path(tempfile.mkdtemp(dir=folder)) / "class.db"), None
                else:
                    database, cluster = postgres.create_database(f"class_{name}_{r}_{os.urandom(3).hex()}"), postgres
                    # the tables made once, before the instances start, as an operator migrates before scaling out:
                    # two first-time setup() calls at one moment can deadlock (CREATE INDEX CONCURRENTLY waits for
                    # the other session, blocked in pg_advisory_lock behind it)
                    check_database(database)
                row = run_config(name, database, 2 if name == "two_instances" else 1, folder, args, texts, tag, deadline, cluster)
                print(f"class_load: round {r + 1} {name}: {row['turns']} turns in {row['wall_s']:.1f} s, "
                      f"{row['errors']} errors, {row['turns_lost']} lost", file=sys.stderr)
                rounds[name].append(row)

    ratios: dict[str, float | None] = {}
    pairs = [("postgres_vs_sqlite", "postgres", "sqlite"), ("two_vs_one_instance", "two_instances", "postgres")]
    for label, top, bottom in pairs:
        if top in rounds and bottom in rounds:
            ratios[f"{label}_turns_per_s"] = ratio(rounds, top, bottom, "turns_per_s")
            ratios[f"{label}_ttft_p95"] = ratio(rounds, top, bottom, "ttft_p95_s")
    quiet_ratios = {f"{label}_turns_per_s": ratio(rounds, top, bottom, "turns_per_s", quiet=True)
                    for label, top, bottom in pairs if top in rounds and bottom in rounds}
    result = {
        "command": command(args), "students": args.students, "turns_per_student": args.turns, "speed": args.speed,
        "runs": args.runs, "tokens_per_answer": args.tokens, "recorded_first_token_s": args.first_token,
        "recorded_reply_s": round(recorded_s, 3), "paced_turns_per_s": round(args.students / recorded_s, 2) if recorded_s else None,
        "cpus": os.cpu_count(), "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in os.getloadavg()],
        "parallel_speedup": [speedup_before, parallel_speedup(args.probe_seconds)],
        "configs": {name: combine(rows) for name, rows in rounds.items()}, "skipped": skipped, "ratios": ratios,
        "ratios_quiet_rounds": quiet_ratios, "quiet_means_other_cores_below": QUIET_CORES,
    }
    result["turns_lost"] = sum(c["turns_lost"] for c in result["configs"].values())
    result["threads_not_as_sent"] = sum(c["threads_not_as_sent"] for c in result["configs"].values())
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    outcome = main()
    sys.exit(1 if outcome["turns_lost"] or outcome["threads_not_as_sent"] else 0)
