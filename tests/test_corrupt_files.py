"""Damaged recordings and scripts fail at load with lessonkit's own error, the file and the position.

Never an AttributeError, KeyError or TypeError: every field replay reads is type-checked when the
file is read. A failed load leaves the file exactly as it was, and the restore command it prints
works when pasted in a shell at the process's working directory.
"""
from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import openai
import pytest
from langchain_openai import ChatOpenAI

from lessonkit.errors import CorruptRecordingError, CorruptScriptError, LessonkitError
from lessonkit.harness.recording import Cassette, ReplayTransport, load_script
from lessonkit.harness.recording.cassette import response_from_dict
from lessonkit.harness.recording.transports import serve
from lessonkit.harness.recording.wire import json_body, sse_events
from tests.conftest import ROOT

RECORDING = ROOT / "notebooks" / "recordings" / "00_quickstart.json"
SCRIPT = ROOT / "notebooks" / "scripts" / "00_quickstart.json"
Field = tuple[Any, ...]


# -- damaging a file --------------------------------------------------------------------------------
def set_in(data: Any, field: Field, value: Any) -> None:
    for step in field[:-1]:
        data = data[step]
    data[field[-1]] = value


def put(field: Field, value: Any) -> Callable[[Path], None]:
    """Damage: set one field of the parsed file to ``value`` and write it back."""
    def apply(path: Path) -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        set_in(data, field, value)
        path.write_text(json.dumps(data), encoding="utf-8")
    return apply


def drop(field: Field) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        container = data
        for step in field[:-1]:
            container = container[step]
        del container[field[-1]]
        path.write_text(json.dumps(data), encoding="utf-8")
    return apply


def raw(change: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(change(path.read_bytes()))


def folder(path: Path) -> None:
    path.unlink()
    path.mkdir()
    (path / "inside.json").write_text("{}")


def snapshot(path: Path) -> Any:
    """The bytes at ``path`` (for a folder, its files' names and bytes)."""
    if path.is_dir():
        return sorted((p.name, p.read_bytes()) for p in path.iterdir())
    return path.read_bytes()


@dataclass(frozen=True)
class Damage:
    name: str
    damage: Callable[[Path], None]
    position: str  # a regular expression for where the message says the problem is


INTERACTION = ("interactions", 0)
CHUNKS = (*INTERACTION, "response", "chunks")
CALL = (*CHUNKS, 1, "delta", "tool_calls", 0)
ERROR_RESPONSE = {"status": 429, "captured_as": "json", "duration": 0.2, "error_body": "{}", "headers": {"retry-after": "1"}}

RECORDING_DAMAGE = [
    Damage("truncated", raw(lambda b: b[: len(b) // 2]), r"not valid JSON at line \d+, column \d+.*truncated"),
    Damage("empty", raw(lambda b: b""), r"not valid JSON at line 1, column 1"),
    Damage("not utf-8", raw(lambda b: b[:300] + b"\xff\xfe" + b[300:]), r"not UTF-8 text: byte 0xff at byte offset 300 \(line \d+\)"),
    Damage("a folder", folder, r"is a folder, not a recording file"),
    Damage("top level a list", raw(lambda b: b"[" + b + b"]"), r"top level: must be an object, not \["),
    Damage("no format", drop(("format",)), r'top level: missing "format"'),
    Damage("newer format", put(("format",), "lessonkit-recording/2"),
           r"made by a newer lessonkit \(format 'lessonkit-recording/2'.*Upgrade lessonkit \(pip install -U"),
    Damage("foreign format", put(("format",), "vcr/1"), r"format: must be 'lessonkit-recording/1', not 'vcr/1'"),
    Damage("notebook a number", put(("notebook",), 7), r"notebook: must be a string, not 7"),
    Damage("interactions an object", put(("interactions",), {}), r"interactions: must be a list, not \{\}"),
    Damage("interaction a string", put(("interactions", 1), "chat"), r"interactions\[1\]: must be an object, not 'chat'"),
    Damage("unknown kind", put((*INTERACTION, "kind"), "video"), r"interactions\[0\]\.kind: must be 'chat' or 'search', not 'video'"),
    Damage("origin guessed", put((*INTERACTION, "origin"), "guessed"), r"interactions\[0\]\.origin: must be 'live' or 'authored'"),
    Damage("note a list", put((*INTERACTION, "note"), ["a"]), r"interactions\[0\]\.note: must be a string"),
    Damage("request a list", put((*INTERACTION, "request"), []), r"interactions\[0\]\.request: must be an object, not \[\]"),
    Damage("no response", drop((*INTERACTION, "response")), r'interactions\[0\]: missing "response"'),
    Damage("status a string", put((*INTERACTION, "response", "status"), "200"), r"interactions\[0\]\.response\.status: must be an HTTP status"),
    Damage("status true", put((*INTERACTION, "response", "status"), True), r"interactions\[0\]\.response\.status: must be an HTTP status"),
    Damage("duration negative", put((*INTERACTION, "response", "duration"), -1), r"interactions\[0\]\.response\.duration: must be a number of seconds"),
    Damage("captured as a tape", put((*INTERACTION, "response", "captured_as"), "tape"), r"interactions\[0\]\.response\.captured_as: must be 'stream' or 'json'"),
    Damage("meta a string", put((*INTERACTION, "response", "meta"), "m"), r"interactions\[0\]\.response\.meta: must be an object"),
    Damage("created a string", put((*INTERACTION, "response", "meta", "created"), "today"), r"interactions\[0\]\.response\.meta\.created: must be a whole number"),
    Damage("usage a list", put((*INTERACTION, "response", "usage"), [1]), r"interactions\[0\]\.response\.usage: must be an object or null"),
    Damage("usage tokens a string", put((*INTERACTION, "response", "usage", "prompt_tokens"), "151"),
           r"interactions\[0\]\.response\.usage\.prompt_tokens: must be a whole number ≥ 0 or null, not '151'"),
    Damage("usage details a number", put((*INTERACTION, "response", "usage", "prompt_tokens_details"), 3),
           r"interactions\[0\]\.response\.usage\.prompt_tokens_details: must be an object or null"),
    Damage("chunks an object", put((*INTERACTION, "response", "chunks"), {}), r"interactions\[0\]\.response\.chunks: must be a list"),
    Damage("chunk without t", drop((*CHUNKS, 0, "t")), r'interactions\[0\]\.response\.chunks\[0\]: each chunk needs a number "t"'),
    Damage("t a string", put((*CHUNKS, 0, "t"), "0.45"), r"interactions\[0\]\.response\.chunks\[0\]\.t: must be a number of seconds"),
    Damage("t not a number", raw(lambda b: b.replace(b'"t": 0.45', b'"t": NaN', 1)), r"interactions\[0\]\.response\.chunks\[0\]\.t: must be a number"),
    Damage("chunk index negative", put((*CHUNKS, 0, "index"), -1), r"chunks\[0\]\.index: must be a whole number ≥ 0"),
    Damage("delta a string", put((*CHUNKS, 2, "delta"), "hi"), r"interactions\[0\]\.response\.chunks\[2\]\.delta: must be an object"),
    Damage("content a number", put((*CHUNKS, 0, "delta", "content"), 7), r"chunks\[0\]\.delta\.content: must be a string or null, not 7"),
    Damage("refusal a list", put((*CHUNKS, 0, "delta", "refusal"), []), r"chunks\[0\]\.delta\.refusal: must be a string or null"),
    Damage("role tool", put((*CHUNKS, 0, "delta", "role"), "tool"), r"chunks\[0\]\.delta\.role: must be 'assistant' or null, not 'tool'"),
    Damage("tool_calls an object", put((*CHUNKS, 1, "delta", "tool_calls"), {}), r"chunks\[1\]\.delta\.tool_calls: must be a list or null"),
    Damage("tool call without index", drop((*CALL, "index")), r'chunks\[1\]\.delta\.tool_calls\[0\]: missing "index"'),
    Damage("tool call function a list", put((*CALL, "function"), []), r"tool_calls\[0\]\.function: must be an object, not \[\]"),
    Damage("tool call function missing", drop((*CALL, "function")), r'tool_calls\[0\]: missing "function"'),
    Damage("arguments an object", put((*CALL, "function", "arguments"), {}), r"tool_calls\[0\]\.function\.arguments: must be a string or null"),
    Damage("finish_reason a number", put((*CHUNKS, 10, "finish_reason"), 3), r"chunks\[10\]\.finish_reason: must be a string or null"),
    Damage("logprobs a string", put((*CHUNKS, 0, "logprobs"), "x"), r"chunks\[0\]\.logprobs: must be an object or null"),
    Damage("logprobs content an object", put((*CHUNKS, 0, "logprobs"), {"content": {}}), r"chunks\[0\]\.logprobs\.content: must be a list or null"),
    Damage("choice_keys unknown", put((*INTERACTION, "response", "choice_keys"), ["logprobs", "banana"]),
           r"response\.choice_keys\[1\]: must be 'logprobs' or 'finish_reason'"),
    Damage("error header a number", put((*INTERACTION, "response"), {**ERROR_RESPONSE, "headers": {"retry-after": 2}}),
           r"interactions\[0\]\.response\.headers\.retry-after: must be a string"),
    Damage("error body a number", put((*INTERACTION, "response"), {**ERROR_RESPONSE, "error_body": 5}), r"interactions\[0\]\.response\.error_body: must be a string or null"),
    Damage("search result a list", put(("interactions", 1, "response", "result"), []), r"interactions\[1\]\.response\.result: must be an object"),
    Damage("search without result", drop(("interactions", 1, "response", "result")), r'interactions\[1\]\.response: missing "result"'),
    Damage("search duration a string", put(("interactions", 1, "response", "duration"), "slow"), r"interactions\[1\]\.response\.duration: must be a number"),
]

REPLY = ("chat", 0)
SCRIPT_DAMAGE = [
    Damage("script not an object", raw(lambda b: b"[" + b + b"]"), r"top level: must be an object"),
    Damage("script not json", raw(lambda b: b.replace(b":", b"=", 1)), r"not valid JSON at line 2, column 9: Expecting .:. delimiter"),
    Damage("script not utf-8", raw(lambda b: b"\xc3" + b), r"not UTF-8 text: byte 0xc3 at byte offset 0 \(line 1\)"),
    Damage("script a folder", folder, r"is a folder, not a script file"),
    Damage("script unknown key", put(("chats",), []), r"top level: unknown key 'chats'"),
    Damage("chat not a list", put(("chat",), {"content": "hi"}), r"chat: must be a list"),
    Damage("reply not an object", put(("chat", 2), "hello"), r"chat\[2\]: must be an object, not 'hello'"),
    Damage("reply content a number", put(("chat", 1, "content"), 42), r"chat\[1\]\.content: must be a string or null, not 42"),
    Damage("reply unknown key", put((*REPLY, "tool_call"), []), r"chat\[0\]: unknown key 'tool_call'"),
    Damage("tool_calls an object", put((*REPLY, "tool_calls"), {}), r"chat\[0\]\.tool_calls: must be a list"),
    Damage("tool call without name", drop((*REPLY, "tool_calls", 0, "name")), r'chat\[0\]\.tool_calls\[0\]: missing "name"'),
    Damage("tool call args a string", put((*REPLY, "tool_calls", 0, "args"), "sf"), r"chat\[0\]\.tool_calls\[0\]\.args: must be an object"),
    Damage("usage a number", put((*REPLY, "usage"), 173), r"chat\[0\]\.usage: must be an object"),
    Damage("usage not ints", put((*REPLY, "usage", "prompt_tokens"), 1.5), r"chat\[0\]\.usage\.prompt_tokens: must be a whole number"),
    Damage("first token negative", put((*REPLY, "first_token_s"), -0.1), r"chat\[0\]\.first_token_s: must be a number of seconds"),
    Damage("search not a list", put(("search",), {}), r"search: must be a list"),
    Damage("search without query", drop(("search", 0, "query")), r'search\[0\]: missing "query"'),
    Damage("search without result", drop(("search", 0, "result")), r'search\[0\]: missing "result"'),
    Damage("search result a string", put(("search", 0, "result"), "sunny"), r"search\[0\]\.result: must be an object"),
]

CASES = [pytest.param(RECORDING, Cassette, CorruptRecordingError, d, id=d.name) for d in RECORDING_DAMAGE] + [
    pytest.param(SCRIPT, load_script, CorruptScriptError, d, id=d.name) for d in SCRIPT_DAMAGE
]


@pytest.mark.parametrize("original, load, error, damage", CASES)
def test_damaged_file_names_file_and_position_and_is_left_alone(
    original: Path, load: Callable[[Path], Any], error: type[LessonkitError], damage: Damage, tmp_path: Path
) -> None:
    path = tmp_path / original.name
    shutil.copy(original, path)
    damage.damage(path)
    before = snapshot(path)
    with pytest.raises(error) as caught:
        load(path)
    message = str(caught.value)
    assert message.startswith(str(path)), message
    assert re.search(damage.position, message), message
    assert snapshot(path) == before


def test_the_table_has_every_shape_the_issue_lists() -> None:
    assert len(RECORDING_DAMAGE) + len(SCRIPT_DAMAGE) >= 25
    assert isinstance(load_script(SCRIPT).replies[0].tool_calls[0].args, dict)  # the undamaged script still loads


# -- the restore command works where it is printed -------------------------------------------------
def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false", *args],
                   cwd=cwd, check=True, capture_output=True)


@pytest.mark.parametrize("where", ["notebooks", "elsewhere"])
def test_printed_git_command_restores_the_recording(where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """From a folder inside the repository (Jupyter's cwd) and from one outside it."""
    repo = tmp_path / "my course"
    path = repo / "notebooks" / "recordings" / "00_quickstart.json"
    path.parent.mkdir(parents=True)
    shutil.copy(RECORDING, path)
    git("init", "-q", cwd=repo)
    git("add", ".", cwd=repo)
    git("commit", "-q", "-m", "recording", cwd=repo)
    good = path.read_bytes()
    path.write_bytes(good[:1000])
    cwd = repo / "notebooks" if where == "notebooks" else tmp_path / "elsewhere"
    cwd.mkdir(exist_ok=True)
    monkeypatch.chdir(cwd)
    with pytest.raises(CorruptRecordingError) as caught:
        Cassette(path)
    command = re.search(r"^    (git .*)$", str(caught.value), flags=re.M)
    assert command, str(caught.value)
    subprocess.run(command[1], shell=True, cwd=cwd, check=True, capture_output=True)
    assert path.read_bytes() == good


# -- every field of a real recording, given a wrong type --------------------------------------------
WRONG_VALUES = [None, 1, "x", [], {}]
SHALLOW = {"request", "result"}  # below these only their own fields: what is inside is matched or shown, never read


def shape_of(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: shape_of(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape_of(v) for v in value[:1]]
    return type(value).__name__


def representative(chunks: list[Any]) -> list[int]:
    """One chunk of each shape, and the last: every field a chunk can have, without all 80 chunks."""
    first: dict[str, int] = {}
    for n, chunk in enumerate(chunks):
        first.setdefault(json.dumps(shape_of(chunk)), n)
    return sorted(set(first.values()) | {len(chunks) - 1})


def field_paths(value: Any, path: Field = ()) -> Iterator[Field]:
    if isinstance(value, dict):
        children = list(value.items())
    elif isinstance(value, list):
        keep = representative(value) if path[-1:] == ("chunks",) else range(len(value))
        children = [(n, value[n]) for n in keep]
    else:
        return
    for key, child in children:
        yield (*path, key)
        if not SHALLOW & set(path):
            yield from field_paths(child, (*path, key))


def serving(response: Any) -> httpx.MockTransport:
    """A transport that answers any request with this response, as replay would serve it."""
    return httpx.MockTransport(lambda request: serve(response, json.loads(request.content), 0.0, "sync"))


def replay(cassette: Cassette, field: Field) -> None:
    """Everything replay reads: every response; for a damaged chat response, the SDK and LangChain over it."""
    for item in cassette.interactions:
        if item["kind"] == "chat":
            response = response_from_dict(item["response"])
            json_body(response), sse_events(response, include_usage=True)
        else:
            item["response"]["result"].get("results"), item["response"].get("duration", 0.0) * 1.0
    item = cassette.interactions[field[1]] if len(field) > 3 and field[2] == "response" else None
    if item is None or item["kind"] != "chat":
        return
    sdk = openai.OpenAI(api_key="k", base_url="http://replay.invalid/v1", max_retries=0, http_client=httpx.Client(transport=ReplayTransport(cassette)))
    sdk.chat.completions.create(**item["request"]).to_dict()
    [chunk.to_dict() for chunk in sdk.chat.completions.create(**item["request"], stream=True, stream_options={"include_usage": True})]
    model = ChatOpenAI(model="gpt-4o", api_key="k", base_url="http://replay.invalid/v1", max_retries=0, stream_usage=True,
                       http_client=httpx.Client(transport=serving(response_from_dict(item["response"]))))
    model.invoke("x")
    list(model.stream("x"))


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydantic's serializer notes a tool call "type" of "x": a warning, not a failure
def test_every_field_of_a_real_recording_with_a_wrong_type_fails_cleanly_or_replays(tmp_path: Path) -> None:
    document = json.loads(RECORDING.read_text())
    path = tmp_path / RECORDING.name
    problems, loaded, refused = [], 0, 0
    for field in field_paths(document):
        for value in WRONG_VALUES:
            damaged = copy.deepcopy(document)
            set_in(damaged, field, value)
            path.write_text(json.dumps(damaged))
            try:
                cassette = Cassette(path)
            except CorruptRecordingError as err:
                refused += 1
                if not str(err).startswith(str(path)):
                    problems.append(f"{field} = {value!r}: message does not start with the file: {err}")
                continue
            loaded += 1
            try:
                replay(cassette, field)
            except LessonkitError:
                pass
            except Exception as err:  # noqa: BLE001 (the point: no other exception may escape)
                problems.append(f"{field} = {value!r}: loaded, then {type(err).__name__}: {err}")
    assert problems == [], "\n".join(problems[:20])
    assert loaded > 50 and refused > 200  # both outcomes really happened
