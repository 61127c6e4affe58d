"""Benchmark 8: N concurrent SSE clients against one `lessonkit serve` process, against the same graph in-process.

The server is a separate process (uvicorn on a free 127.0.0.1 port, the socket bound here and handed
down) serving the lesson agent in replay at speed 1 from an authored recording (one answer of
``--tokens`` pieces of 4.3 characters, its first token ``--first-token`` s after the request, then one
every ``--interval`` s) on an AsyncSqliteSaver in a scratch folder. The clients are asyncio tasks in
this process (httpx + httpx-sse), each on its own new thread, all N sent at once; each times request
sent -> first ``token`` event (TTFT), counts tokens, checks the answer arrived whole and ``[DONE]``.
After each round every thread's history is read back (``GET /threads/{id}/history``), and at the end
the SQLite file itself (``lessonkit.checkpoints``): turns lost = questions sent - questions found.

The baseline, in the same rounds: the same agent and recording, on its own AsyncSqliteSaver, driven in
this process by N concurrent ``graph.astream(..., stream_mode="messages")`` tasks, TTFT timed the same
way. Memory per open stream: the server's VmRSS (``/proc/<pid>/status``) at its peak during a round,
minus its idle VmRSS just before the round, divided by N; CPU per token from ``/proc/<pid>/stat`` (the
server) and ``time.process_time`` (this process). Each round runs every N: the baseline, then a fresh
server (started, warmed up by one turn, measured, stopped), so no round inherits another's memory or
threads. Figures are medians over rounds. Every wait is bounded (per client, per round, overall).

Run: python -m bench.serve_load [--clients 10,50,100] [--runs 3] [--tokens 300]
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import aconnect_sse
from langchain_core.messages import AIMessageChunk, HumanMessage

import lessonkit
from lessonkit import checkpoints
from lessonkit.harness.recording import Cassette, Reply, Script
from bench.common import CHARS_PER_TOKEN, long_answer, now, workdir

NAME = "serve_load"
QUESTION = "What is the weather in sf?"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
STARTUP_LIMIT_S = 60.0
RSS_SAMPLE_S = 0.05
MAX_EVENTS_PER_STREAM = 20_000  # a stream of more events than this is a bug: stop reading it


# ---------------------------------------------------------------- the recording and the agent

def record(folder: Path, tokens: int, first_token_s: float, interval_s: float) -> str:
    """Author ``folder/serve_load.json``: the lesson agent (search tool bound) answering QUESTION in ``tokens`` pieces."""
    reply = Reply(content=long_answer(tokens), first_token_s=first_token_s, chunk_interval_s=interval_s)
    lesson = lessonkit.Lesson(NAME, "record", 0.0, Cassette(folder / f"{NAME}.json"),
                              script=Script(replies=[reply], note=f"serve_load: {tokens} tokens"))
    graph = lessonkit.build_agent(lesson.chat_model(), [lesson.search_tool()], checkpointer=checkpoints.memory_saver())
    graph.invoke({"messages": [HumanMessage(QUESTION)]}, {"configurable": {"thread_id": "rec"}})
    return long_answer(tokens)


def child(argv: list[str]) -> None:
    """The server process: the lesson app (as ``lessonkit serve`` builds it) on the inherited socket."""
    import dataclasses

    import uvicorn

    from lessonkit.serve.lesson_app import LessonServe, create_lesson_app
    from lessonkit.serve.settings import ServeSettings

    fd, recordings, database, run_timeout_s, streams = int(argv[0]), Path(argv[1]), Path(argv[2]), float(argv[3]), int(argv[4])
    settings = ServeSettings(recordings_dir=recordings, lesson=NAME, run_timeout_s=run_timeout_s)
    if any(f.name == "max_streams" for f in dataclasses.fields(settings)):  # the open-stream limit (default 100) lets N in
        settings = dataclasses.replace(settings, max_streams=streams)
    app = create_lesson_app(LessonServe(mode="replay", speed=1.0, database=database), settings)
    sock = socket.socket(fileno=fd)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    server.run(sockets=[sock])


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    log: Path

    def rss_kb(self) -> int:
        with open(f"/proc/{self.process.pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))

    def cpu_s(self) -> float:
        """User + system CPU seconds the server process has used (all its threads)."""
        with open(f"/proc/{self.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def serve(folder: Path, database: Path, run_timeout_s: float, streams: int):
    """Start the server process on a free loopback port; stop it (terminate, then kill) when the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    log = folder / "server.log"
    code = "import sys; from bench.serve_load import child; child(sys.argv[1:])"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-c", code, str(sock.fileno()), str(folder), str(database), str(run_timeout_s), str(streams)],
                                   pass_fds=[sock.fileno()], stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT, env=env)
    sock.close()  # the child holds its own copy
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        for _ in range(int(STARTUP_LIMIT_S / 0.05)):
            if process.poll() is not None:
                break
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{server.url}/health", timeout=1.0).status_code == 200:
                    break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"the server did not answer /health within {STARTUP_LIMIT_S:g} s")
        if process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}):\n{log.read_text()[-2000:]}")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


# ---------------------------------------------------------------- one client, one stream

@dataclass
class Stream:
    ttft_s: float | None = None
    total_s: float | None = None
    tokens: int = 0
    text: list[str] = field(default_factory=list)
    done: bool = False
    error: str | None = None


async def sse_client(client: httpx.AsyncClient, thread: str, answer: str, timeout_s: float) -> Stream:
    result, sent = Stream(), now()
    try:
        async with asyncio.timeout(timeout_s):
            async with aconnect_sse(client, "POST", f"/threads/{thread}/runs/stream", json={"message": QUESTION}) as source:
                if source.response.status_code != 200:
                    result.error = f"HTTP {source.response.status_code}"
                    return result
                count = 0
                async for sse in source.aiter_sse():
                    count += 1
                    if count > MAX_EVENTS_PER_STREAM:
                        result.error = "too many events"
                        break
                    if not sse.data:
                        continue  # a heartbeat
                    if sse.data == "[DONE]":
                        result.done = True
                        break
                    event = json.loads(sse.data)
                    if event["type"] == "token":
                        if result.ttft_s is None:
                            result.ttft_s = now() - sent
                        result.tokens += 1
                        result.text.append(event["content"])
                    elif event["type"] == "error":
                        result.error = f"error event: {event.get('error')}"
    except TimeoutError:
        result.error = f"client timeout ({timeout_s:g} s)"
    except httpx.HTTPError as error:
        result.error = f"{type(error).__name__}: {error}"
    result.total_s = now() - sent
    return check(result, answer)


async def in_process(graph: Any, thread: str, answer: str, timeout_s: float) -> Stream:
    result, sent = Stream(), now()
    try:
        async with asyncio.timeout(timeout_s):
            config = {"configurable": {"thread_id": thread}}
            async for chunk, _meta in graph.astream({"messages": [HumanMessage(QUESTION)]}, config, stream_mode="messages"):
                if isinstance(chunk, AIMessageChunk) and chunk.content:
                    if result.ttft_s is None:
                        result.ttft_s = now() - sent
                    result.tokens += 1
                    result.text.append(chunk.content)
            result.done = True
    except TimeoutError:
        result.error = f"client timeout ({timeout_s:g} s)"
    except Exception as error:  # noqa: BLE001 - counted as an error, the round goes on
        result.error = f"{type(error).__name__}: {error}"
    result.total_s = now() - sent
    return check(result, answer)


def check(result: Stream, answer: str) -> Stream:
    if result.error is None and not result.done:
        result.error = "no [DONE]"
    elif result.error is None and "".join(result.text) != answer:
        result.error = f"answer incomplete ({len(''.join(result.text))} of {len(answer)} characters)"
    result.text = []
    return result


# ---------------------------------------------------------------- rounds

def p95(values: list[float]) -> float:
    """Nearest rank: the smallest value with at least 95% of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def summary(streams: list[Stream], wall_s: float) -> dict[str, Any]:
    ttfts = [s.ttft_s for s in streams if s.ttft_s is not None]
    tokens = sum(s.tokens for s in streams)
    return {
        "ttft_median_s": statistics.median(ttfts) if ttfts else None, "ttft_p95_s": p95(ttfts) if ttfts else None,
        "total_median_s": statistics.median(s.total_s for s in streams), "tokens": tokens, "tokens_per_s": tokens / wall_s,
        "errors": sum(s.error is not None for s in streams),
        "error_kinds": sorted({s.error for s in streams if s.error is not None})[:5],
    }


async def server_round(server: Server, n: int, tag: str, answer: str, timeout_s: float) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
    threads = [f"{tag}-{i}" for i in range(n)]
    async with httpx.AsyncClient(base_url=server.url, timeout=httpx.Timeout(timeout_s), limits=limits) as client:
        idle_kb = server.rss_kb()
        peak_kb, running = idle_kb, True

        async def sample() -> None:
            nonlocal peak_kb
            while running:  # bounded: the round itself is bounded by timeout_s
                peak_kb = max(peak_kb, server.rss_kb())
                await asyncio.sleep(RSS_SAMPLE_S)

        sampler = asyncio.create_task(sample())
        start, server_cpu, client_cpu = now(), server.cpu_s(), time.process_time()
        streams = await asyncio.gather(*(sse_client(client, t, answer, timeout_s) for t in threads))
        wall = now() - start
        server_cpu, client_cpu = server.cpu_s() - server_cpu, time.process_time() - client_cpu
        running = False
        await sampler
        found = 0
        for thread in threads:  # every question of every thread, read back over HTTP
            response = await client.get(f"/threads/{thread}/history")
            if response.status_code == 200:
                found += sum(1 for m in response.json()["messages"] if m["type"] == "human" and m["content"] == QUESTION)
    return {**summary(streams, wall), "turns_lost": n - found, "cpu_s": server_cpu, "client_cpu_s": client_cpu, "idle_rss_mb": idle_kb / 1024,
            "peak_rss_mb": peak_kb / 1024, "mb_per_stream": (peak_kb - idle_kb) / 1024 / n}


async def baseline_round(graph: Any, saver: Any, n: int, tag: str, answer: str, timeout_s: float) -> dict[str, Any]:
    threads = [f"{tag}-{i}" for i in range(n)]
    start, cpu = now(), time.process_time()
    streams = await asyncio.gather(*(in_process(graph, t, answer, timeout_s) for t in threads))
    wall, cpu = now() - start, time.process_time() - cpu
    found = 0
    for thread in threads:
        found += sum(1 for m in await checkpoints.athread_messages(saver, thread) if m.type == "human" and m.content == QUESTION)
    return {**summary(streams, wall), "turns_lost": n - found, "cpu_s": cpu}


def count_on_disk(database: Path) -> tuple[int, int]:
    """(threads, questions) in the server's SQLite file, read after it stopped."""
    saver = checkpoints.sqlite_saver(database)
    try:
        threads = checkpoints.list_threads(saver)
        questions = sum(1 for t in threads for m in checkpoints.thread_messages(saver, t) if m.type == "human" and m.content == QUESTION)
    finally:
        checkpoints.close_sync_saver(saver)
    return len(threads), questions


def median(rounds: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rounds if r[key] is not None]
    return statistics.median(values) if values else None


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", default="10,50,100", help="comma-separated numbers of concurrent clients")
    parser.add_argument("--runs", type=int, default=3, help="rounds; every N runs once per round")
    parser.add_argument("--tokens", type=int, default=300, help="pieces in the recorded answer")
    parser.add_argument("--first-token", type=float, default=0.45, help="recorded seconds to the first token")
    parser.add_argument("--interval", type=float, default=0.025, help="recorded seconds between pieces")
    parser.add_argument("--client-timeout", type=float, default=120.0, help="hard limit on one stream")
    parser.add_argument("--overall-timeout", type=float, default=1800.0, help="hard limit on the whole benchmark")
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.clients.split(",")]
    folder = workdir()
    answer = record(folder, args.tokens, args.first_token, args.interval)
    recorded_s = args.first_token + args.tokens * args.interval
    load_before = os.getloadavg()
    deadline = now() + args.overall_timeout

    def left() -> float:
        remaining = deadline - now()
        if remaining <= 0:
            raise TimeoutError(f"the benchmark passed its overall limit of {args.overall_timeout:g} s")
        return remaining

    async def baseline(n: int, tag: str) -> dict[str, Any]:
        lesson = lessonkit.start(NAME, mode="replay", speed=1.0, recordings_dir=folder, announce=False)
        saver = await checkpoints.async_sqlite_saver(folder / f"inprocess-{tag}.db")
        try:
            graph = lessonkit.build_agent(lesson.chat_model(), [lesson.search_tool()], checkpointer=saver)
            async with asyncio.timeout(left()):
                return await baseline_round(graph, saver, n, tag, answer, args.client_timeout)
        finally:
            await checkpoints.close_saver(saver)

    async def served(server: Server, n: int, tag: str) -> dict[str, Any]:
        async with asyncio.timeout(left()):
            return await server_round(server, n, tag, answer, args.client_timeout)

    asyncio.run(baseline(1, "warm"))  # imports and first-call work, before anything is timed
    results: dict[int, list[tuple[dict, dict]]] = {n: [] for n in sizes}
    expected = found_on_disk = threads_on_disk = 0
    for r in range(args.runs):
        for n in sizes:
            inproc = asyncio.run(baseline(n, f"r{r}-n{n}"))
            database = folder / f"serve-r{r}-n{n}.db"
            with serve(folder, database, args.client_timeout, n + 10) as server:  # a fresh server: its idle RSS is its own
                warm = asyncio.run(served(server, 1, "warm"))
                if warm["errors"]:
                    raise RuntimeError(f"the warm-up turn failed: {warm['error_kinds']}\n{server.log.read_text()[-2000:]}")
                srv = asyncio.run(served(server, n, f"r{r}-n{n}"))
            threads, questions = count_on_disk(database)
            expected, found_on_disk, threads_on_disk = expected + n + 1, found_on_disk + questions, threads_on_disk + threads
            results[n].append((inproc, srv))

    per_n = {}
    for n, rounds in results.items():
        ins, svs = [i for i, _ in rounds], [s for _, s in rounds]
        ratios = [s["ttft_median_s"] / i["ttft_median_s"] for i, s in rounds if s["ttft_median_s"] and i["ttft_median_s"]]
        per_n[n] = {
            "ttft_ratio_median": round(statistics.median(ratios), 3) if ratios else None,
            "ttft_ratio_rounds": [round(x, 3) for x in ratios],
            "server_ttft_median_s": round(median(svs, "ttft_median_s") or 0, 4),
            "inprocess_ttft_median_s": round(median(ins, "ttft_median_s") or 0, 4),
            "server_ttft_p95_s": round(median(svs, "ttft_p95_s") or 0, 4),
            "inprocess_ttft_p95_s": round(median(ins, "ttft_p95_s") or 0, 4),
            "server_total_median_s": round(median(svs, "total_median_s"), 3),
            "inprocess_total_median_s": round(median(ins, "total_median_s"), 3),
            "server_tokens_per_s": round(median(svs, "tokens_per_s")),
            "inprocess_tokens_per_s": round(median(ins, "tokens_per_s")),
            "paced_tokens_per_s": round(n * args.tokens / recorded_s),
            "server_cpu_ms_per_token": round(1000 * statistics.median(s["cpu_s"] / max(s["tokens"], 1) for s in svs), 3),
            "client_cpu_ms_per_token": round(1000 * statistics.median(s["client_cpu_s"] / max(s["tokens"], 1) for s in svs), 3),
            "inprocess_cpu_ms_per_token": round(1000 * statistics.median(i["cpu_s"] / max(i["tokens"], 1) for i in ins), 3),
            "mb_per_stream": round(median(svs, "mb_per_stream"), 3),
            "server_idle_rss_mb": round(median(svs, "idle_rss_mb"), 1),
            "server_peak_rss_mb": round(median(svs, "peak_rss_mb"), 1),
            "server_errors": sum(s["errors"] for s in svs), "inprocess_errors": sum(i["errors"] for i in ins),
            "error_kinds": sorted({k for r in ins + svs for k in r["error_kinds"]})[:5],
            "turns_lost": sum(s["turns_lost"] for s in svs), "inprocess_turns_lost": sum(i["turns_lost"] for i in ins),
        }
    lost_history = sum(p["turns_lost"] for p in per_n.values())
    result = {
        "benchmark": "serve_load", "clients": sizes, "runs": args.runs, "tokens": args.tokens,
        "chars_per_token": CHARS_PER_TOKEN, "recorded_first_token_s": args.first_token, "recorded_duration_s": round(recorded_s, 3),
        "cpus": os.cpu_count(), "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in os.getloadavg()],
        "per_clients": per_n,
        "turns_expected": expected, "turns_on_disk": found_on_disk, "threads_on_disk": threads_on_disk,
        "turns_lost_history": lost_history, "turns_lost_on_disk": expected - found_on_disk,
        "turns_lost": max(lost_history, expected - found_on_disk),
        "target": "ttft ratio <= 1.1 at 10 clients; turns_lost == 0",
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
