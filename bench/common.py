"""Shared pieces for the benchmarks: authored long answers recorded once, replayed through the real client."""
from __future__ import annotations

import atexit
import shutil
import string
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from langchain_core.messages import HumanMessage

import lessonkit
from lessonkit import checkpoints
from lessonkit.harness.recording import Cassette, Reply, Script


CHARS_PER_TOKEN = 4.3  # the mean content chunk of the real gpt-4o streams in shared/fixtures/openai-wire (898 chunks)


def long_answer(chunks: int) -> str:
    """Text that the authoring path splits into exactly ``chunks`` word pieces of real-token size.

    Pieces are " " plus 3 or 4 letters, three in ten of them 4: 4.3 characters on average, the size of
    a real streamed token, so bytes-per-character figures are not flattered by long pieces.
    """
    words = []
    for n in range(chunks):
        letters, k = [], n
        for _ in range(4 if n % 10 in (0, 3, 6) else 3):
            letters.append(string.ascii_lowercase[k % 26])
            k //= 26
        words.append("".join(letters))
    return " ".join(words)


def prose_answer(chunks: int) -> str:
    """Real English prose, ``chunks`` words: this repository's README, whitespace collapsed (repeated if it runs out).

    Compressed a flush at a time, ``long_answer``'s letter pattern shrinks to ~0.43 of its size and prose
    to ~0.6 (the real gpt-4o answers in shared/fixtures/openai-wire: 0.64); a figure for compressed
    traffic on ``long_answer`` alone would flatter it.
    """
    words = (Path(__file__).parents[1] / "README.md").read_text().split()
    return " ".join(words[i % len(words)] for i in range(chunks))


def record_answer(folder: Path, name: str, chunks: int, interval_s: float = 0.001, first_token_s: float = 0.3,
                  text: Callable[[int], str] = long_answer) -> Path:
    """Record one model turn whose answer (``text(chunks)``) streams in ``chunks`` pieces (authored, timing synthesized)."""
    reply = Reply(content=text(chunks), first_token_s=first_token_s, chunk_interval_s=interval_s)
    script = Script(replies=[reply], note=f"benchmark answer of {chunks} chunks")
    lesson = lessonkit.Lesson(name, "record", 0.0, Cassette(folder / f"{name}.json"), script=script)
    graph = lessonkit.build_agent(lesson.chat_model(), [], checkpointer=checkpoints.memory_saver(), system="bench")
    graph.invoke({"messages": [HumanMessage("go")]}, {"configurable": {"thread_id": "rec"}})
    return folder


def replay_graph(folder: Path, name: str, speed: float = 0.0) -> Any:
    lesson = lessonkit.start(name, mode="replay", speed=speed, recordings_dir=folder, announce=False)
    return lessonkit.build_agent(lesson.chat_model(), [], checkpointer=checkpoints.memory_saver(), system="bench")


def workdir() -> Path:
    """A scratch folder removed when the process ends (the growth benchmark writes ~2 GB of SQLite)."""
    folder = Path(tempfile.mkdtemp(prefix="lessonkit-bench-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def now() -> float:
    return time.perf_counter()


INPUT = {"messages": [HumanMessage("go")]}
