"""No key, token or org id reaches disk: the redactor, and every path an upstream error takes to a file.

The upstream is a local server that quotes what it was sent the way the real ones do: OpenAI's 401
(key prefix and last 4), its 429 (the org id), and a debugging proxy's 400 echoing every request
header. The secrets are built at run time, so none sits in the repository.
"""
from __future__ import annotations

import asyncio
import gzip
import json
import sqlite3
import traceback
from pathlib import Path
from typing import Any, Iterator

import httpx
import openai
import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

import lessonkit
from lessonkit import checkpoints
from lessonkit.agent import rejection_messages
from lessonkit.harness.recording import Cassette, Reply, Script, ScriptedCall
from lessonkit.harness.recording.live import RedactingTransport, proxy_mounts
from lessonkit.support.redact import redact, redact_data, redact_exception, redacted_errors
from lessonkit.harness.search import LessonTavilySearch, recorded_search
from tests.openai_server import LocalServer, leaky_server, masked_key

ORG_ID = "org-" + "LkTest" * 4  # 24 mixed-case alphanumerics, like a real one
TAVILY_KEY = "tvly-" + "dev-" + "LkTavily" * 3


@pytest.fixture
def secrets(fake_key: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The key and org id in the environment, as a student's .env would put them."""
    monkeypatch.setenv("OPENAI_API_KEY", fake_key)
    monkeypatch.setenv("OPENAI_ORG_ID", ORG_ID)
    monkeypatch.setenv("TAVILY_API_KEY", TAVILY_KEY)
    return {"key": fake_key, "org": ORG_ID, "tavily": TAVILY_KEY}


def leaks(text: str | bytes, secrets: dict[str, str]) -> list[str]:
    """Which secret (or fragment) a text still holds: keys, their starred last 4, "Bearer", the org id."""
    data = text if isinstance(text, bytes) else text.encode()
    fragments = [secrets["key"], secrets["key"][8:20], "*" + secrets["key"][-4:], secrets["tavily"], "*" + secrets["tavily"][-4:], "Bearer", secrets["org"]]
    return [f for f in fragments if f.encode() in data]


def files_under(folder: Path) -> Iterator[Path]:
    return (p for p in folder.rglob("*") if p.is_file())


def assert_no_file_leaks(folder: Path, secrets: dict[str, str]) -> None:
    for path in files_under(folder):
        assert leaks(path.read_bytes(), secrets) == [], path


def error_writes(db: Path) -> list[bytes]:
    """The values LangGraph wrote to channel ``__error__`` (it stores ``repr(exception)``)."""
    with sqlite3.connect(db) as conn:
        return [bytes(v) for (v,) in conn.execute("select value from writes where channel = '__error__'")]


# -- the redactor ---------------------------------------------------------------------------------
def test_openai_401_wording_keeps_its_meaning(secrets: dict[str, str]) -> None:
    text = f"Incorrect API key provided: {masked_key(secrets['key'])}. You can find your API key at https://platform.openai.com/account/api-keys."
    assert redact(text) == "Incorrect API key provided: [redacted key]. You can find your API key at https://platform.openai.com/account/api-keys."
    other = "Incorrect API key provided: sk-proj-" + "*" * 40 + "Zq9x."  # not this machine's key: the shape alone
    assert redact(other, env={}) == "Incorrect API key provided: [redacted key]."


@pytest.mark.parametrize("text, expected", [
    ("Rate limit reached for gpt-4o in organization org-" + "AbCdEf123GhIjKl456MnOp" + " on tokens per min", "Rate limit reached for gpt-4o in organization [redacted org id] on tokens per min"),
    ("an org-chart, org-wide changes, a task-force", "an org-chart, org-wide changes, a task-force"),
    ('{"Authorization": "Bearer abc.def-ghi.jkl-mno1"}', '{"Authorization": "[redacted token]"}'),
    ("authorization: bearer tvly-" + "x1" * 10, "authorization: [redacted token]"),
    ("key tvly-" + "dev-" + "Q" * 20 + " and sk-" + "A1" * 24, "key [redacted key] and [redacted key]"),
    ("project proj_" + "Ab1" * 8, "project [redacted project id]"),
    ("scikit-learn, sk-learn, sk-proj-***.", "scikit-learn, sk-learn, [redacted key]."),
])
def test_shapes(text: str, expected: str) -> None:
    assert redact(text, env={}) == expected
    assert redact(expected, env={}) == expected  # idempotent


def test_environment_values_and_their_masked_tails() -> None:
    env = {"MY_SERVICE_TOKEN": "plainvalue" + "42xy", "OPENAI_ORGANIZATION": "acme-corp-id", "SHORT_KEY": "abc", "HOME": "/home/student"}
    text = "token plainvalue42xy, masked ab****42xy, org acme-corp-id, abc, /home/student, 42xy alone"
    assert redact(text, env) == "token [redacted token], masked [redacted token], org [redacted org id], abc, /home/student, 42xy alone"


def test_redact_data_walks_json_and_leaves_keys_and_numbers(secrets: dict[str, str]) -> None:
    notebook = {
        "cells": [{"cell_type": "code", "execution_count": 3, "source": "graph.invoke(...)", "outputs": [
            {"output_type": "error", "ename": "AuthenticationError", "evalue": f"Error code: 401 - Incorrect API key provided: {masked_key(secrets['key'])}",
             "traceback": [f"headers: Authorization: Bearer {secrets['key']}", f"OpenAI-Organization: {secrets['org']}"]},
            {"output_type": "stream", "name": "stdout", "text": [f"TAVILY_API_KEY={secrets['tavily']}\n"]},
        ]}],
        "metadata": {secrets["org"]: ("kept", 1.5, None)},
    }
    clean = redact_data(notebook)
    assert leaks(json.dumps(clean["cells"]), secrets) == []
    assert clean["cells"][0]["execution_count"] == 3 and clean["metadata"] == {secrets["org"]: ("kept", 1.5, None)}  # keys untouched
    assert clean["cells"][0]["outputs"][0]["evalue"] == "Error code: 401 - Incorrect API key provided: [redacted key]"
    assert leaks(json.dumps(notebook["cells"]), secrets)  # a copy: the original is as it was


def test_redact_exception_in_place_keeps_type_traceback_and_chain(secrets: dict[str, str]) -> None:
    header, org = f"inner Bearer {secrets['key']}", f"in organization {secrets['org']}"

    def fail() -> None:  # (the traceback quotes these source lines: they name no secret)
        try:
            raise ValueError(header)
        except ValueError as inner:
            raise RuntimeError(org, {"body": secrets["key"]}) from inner

    with pytest.raises(RuntimeError) as caught:
        with redacted_errors():
            fail()
    err = caught.value
    assert err.args == ("in organization [redacted org id]", {"body": "[redacted key]"})
    assert str(err.__cause__) == "inner [redacted token]"
    assert "fail" in "".join(traceback.format_tb(err.__traceback__))
    assert leaks("".join(traceback.format_exception(err)), secrets) == []
    assert redact_exception(err) is err


def test_rejection_reason_is_redacted(secrets: dict[str, str]) -> None:
    [message] = rejection_messages([{"id": "c", "name": "t", "args": {}}], f"no, and my key is {secrets['key']}")
    assert message.content.endswith("Reason: no, and my key is [redacted key]")


# -- the live transport ---------------------------------------------------------------------------
def test_redacting_transport_decodes_and_redacts_errors_and_passes_answers_through(secrets: dict[str, str]) -> None:
    answer = httpx.Response(200, content=b"data: {}\n\n")
    body = json.dumps({"error": {"message": f"organization {secrets['org']}"}}).encode()

    def upstream(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/ok":
            return answer
        return httpx.Response(429, headers={"content-encoding": "gzip", "retry-after-ms": "5"}, content=gzip.compress(body))

    transport = RedactingTransport(httpx.MockTransport(upstream), httpx.MockTransport(upstream))
    assert transport.handle_request(httpx.Request("POST", "http://x/ok")) is answer  # untouched, unbuffered
    with httpx.Client(transport=transport) as client:
        refused = client.post("http://x/v1/chat/completions")
    assert refused.status_code == 429 and refused.headers["retry-after-ms"] == "5"
    assert refused.json() == {"error": {"message": "organization [redacted org id]"}}

    async def via_async() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport) as client:
            return await client.post("http://x/v1/chat/completions")

    assert asyncio.run(via_async()).json() == refused.json()


def test_proxy_variables_still_apply_in_live_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "localhost")
    mounts = proxy_mounts()
    assert isinstance(mounts["https://"], RedactingTransport) and mounts["all://localhost"] is None


# -- end to end: record and live mode, through the lesson agent on a SQLite file -------------------
def lesson_for(mode: str, server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> lessonkit.Lesson:
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    if mode == "record":
        return lessonkit.Lesson("secrets", "record", 0.0, Cassette(tmp_path / "recordings" / "secrets.json"))
    return lessonkit.start("secrets", mode="live", recordings_dir=tmp_path / "recordings", announce=False)


def run_agent(lesson: lessonkit.Lesson, db: Path, flavour: str) -> BaseException:
    """One turn of the lesson agent that fails at the model call; returns what the cell would raise."""
    question = {"messages": [HumanMessage("hello")]}
    config = {"configurable": {"thread_id": "t"}}

    async def run_async() -> None:
        saver = await checkpoints.async_sqlite_saver(db)
        try:
            await lessonkit.build_agent(lesson.chat_model(max_retries=0), [], checkpointer=saver).ainvoke(question, config)
        finally:
            await checkpoints.close_saver(saver)

    with pytest.raises(openai.APIStatusError) as caught:
        if flavour == "async":
            asyncio.run(run_async())
        else:
            saver = checkpoints.sqlite_saver(db)
            try:
                lessonkit.build_agent(lesson.chat_model(max_retries=0), [], checkpointer=saver).invoke(question, config)
            finally:
                checkpoints.close_sync_saver(saver)
    return caught.value


USEFUL = {401: "Incorrect API key provided: [redacted key]. You can find your API key", 429: "in organization [redacted org id] on tokens per min",
          400: '"authorization": "[redacted token]"'}


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize("mode", ["record", "live"])
@pytest.mark.parametrize("status", [401, 429, 400])
def test_upstream_errors_reach_no_file_and_no_exception_unredacted(
    status: int, mode: str, flavour: str, secrets: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = leaky_server(status)
    try:
        err = run_agent(lesson_for(mode, server, tmp_path, monkeypatch), tmp_path / "t.db", flavour)
    finally:
        server.stop()

    sent = server.seen[0].headers  # the secrets did go upstream, and came back quoted...
    assert sent["authorization"] == f"Bearer {secrets['key']}" and sent["openai-organization"] == secrets["org"]
    # ...but the exception the cell shows says what went wrong without them,
    assert err.status_code == status and USEFUL[status] in str(err)
    for text in (str(err), repr(err), err.message, json.dumps(err.body), "".join(traceback.format_exception(err))):
        assert leaks(text, secrets) == [], text
    # and no file lessonkit or LangGraph wrote holds them: the recording, the .db (and -wal while it lived).
    errors = error_writes(tmp_path / "t.db")
    assert len(errors) == 1 and b"[redacted " in errors[0]  # the node error LangGraph checkpointed, redacted
    assert_no_file_leaks(tmp_path, secrets)
    recording = tmp_path / "recordings" / "secrets.json"
    if mode == "record":
        assert "[redacted " in json.loads(recording.read_text())["interactions"][0]["response"]["error_body"]
    else:
        assert not recording.exists()


def test_wal_is_clean_while_the_saver_is_open(secrets: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = leaky_server(400)
    saver = checkpoints.sqlite_saver(tmp_path / "t.db")
    try:
        graph = lessonkit.build_agent(lesson_for("live", server, tmp_path, monkeypatch).chat_model(max_retries=0), [], checkpointer=saver)
        with pytest.raises(openai.BadRequestError):
            graph.invoke({"messages": [HumanMessage("hello")]}, {"configurable": {"thread_id": "t"}})
        assert (tmp_path / "t.db-wal").exists()
        assert_no_file_leaks(tmp_path, secrets)
    finally:
        checkpoints.close_sync_saver(saver)
        server.stop()


def test_the_agent_redacts_a_node_error_from_any_client(secrets: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ChatOpenAI lessonkit did not build (no redacting transport): the node's error is redacted in place."""
    server = leaky_server(401)
    saver = checkpoints.sqlite_saver(tmp_path / "t.db")
    try:
        graph = lessonkit.build_agent(ChatOpenAI(model="gpt-4o", base_url=server.url, max_retries=0), [], checkpointer=saver)
        with pytest.raises(openai.AuthenticationError) as caught:
            graph.invoke({"messages": [HumanMessage("hello")]}, {"configurable": {"thread_id": "t"}})
    finally:
        checkpoints.close_sync_saver(saver)
        server.stop()
    assert USEFUL[401] in str(caught.value) and leaks(repr(caught.value), secrets) == []
    assert len(error_writes(tmp_path / "t.db")) == 1
    assert_no_file_leaks(tmp_path, secrets)


# -- tool errors: the agent's ToolMessages, and Tavily's own error results -------------------------
@tool
def leaky_tool(query: str) -> str:
    """A tool whose failure quotes the key it used."""
    raise PermissionError(f"upstream said: Authorization: Bearer {TAVILY_KEY} is not allowed for {query!r}")


def test_tool_errors_and_search_errors_are_redacted_in_messages_and_checkpoints(secrets: dict[str, str], tmp_path: Path) -> None:
    script = Script(replies=[
        Reply(tool_calls=(ScriptedCall("tavily_search", {"query": "sf"}, "call_s"), ScriptedCall("leaky_tool", {"query": "sf"}, "call_l"))),
        Reply(content="Both failed."),
    ], note="secrets test")
    lesson = lessonkit.Lesson("secrets", "record", 0.0, Cassette(tmp_path / "recordings" / "secrets.json"), script=script)
    server = leaky_server(401)
    # live mode's search (record mode refuses a failed search instead: test below); the chat is scripted
    search = LessonTavilySearch(max_results=2, tavily_api_key=TAVILY_KEY, api_base_url=server.url.removesuffix("/v1"))
    saver = checkpoints.sqlite_saver(tmp_path / "t.db")
    try:
        graph = lessonkit.build_agent(lesson.chat_model(), [search, leaky_tool], checkpointer=saver)
        messages = graph.invoke({"messages": [HumanMessage("look up sf")]}, {"configurable": {"thread_id": "t"}})["messages"]
    finally:
        checkpoints.close_sync_saver(saver)
        server.stop()

    assert server.seen[0].headers["authorization"] == f"Bearer {TAVILY_KEY}"  # Tavily got the key, and echoed it
    searched, failed = [m for m in messages if isinstance(m, ToolMessage)]
    assert "Error 401" in searched.content and "[redacted token]" in searched.content
    assert failed.content == "Error: PermissionError: upstream said: Authorization: [redacted token] is not allowed for 'sf'"
    assert leaks(json.dumps([m.content for m in messages]), secrets) == []
    assert_no_file_leaks(tmp_path, secrets)  # the checkpoint (and the recording of the next model request)


def test_direct_search_error_result_is_redacted(secrets: dict[str, str], tmp_path: Path) -> None:
    server = leaky_server(401)
    try:
        search = LessonTavilySearch(tavily_api_key=TAVILY_KEY, api_base_url=server.url.removesuffix("/v1"))
        result: Any = search.invoke({"query": "where is my key"})
    finally:
        server.stop()
    assert isinstance(result["error"], ValueError) and leaks(repr(result), secrets) == []


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_search_failing_upstream_while_recording_fails_the_run_with_its_cause(secrets: dict[str, str], tmp_path: Path,
                                                                                 asynchronous: bool) -> None:
    import asyncio

    from lessonkit.harness.search import SearchUpstreamError
    server = leaky_server(401)
    cassette = Cassette(tmp_path / "r.json")
    try:
        search = recorded_search(cassette, recording=True, api_key=TAVILY_KEY, api_base_url=server.url.removesuffix("/v1"))
        with pytest.raises(SearchUpstreamError) as caught:
            if asynchronous:
                asyncio.run(search.ainvoke({"query": "where is my key"}))
            else:
                search.invoke({"query": "where is my key"})
    finally:
        server.stop()
    text = str(caught.value)
    assert text.startswith("the search 'where is my key' failed upstream while recording (")
    assert "401" in text and "Check TAVILY_API_KEY" in text and "TAVILY_API_BASE_URL" in text
    assert leaks(text, secrets) == [] and caught.value.__cause__ is None
    assert not cassette.has("search", {"query": "where is my key", "max_results": 5})
    assert not (tmp_path / "r.json").exists()  # nothing recorded for it

@pytest.mark.parametrize("prose", [
    "APIs use Bearer authentication: send the token in a header.",
    "the bearer of bad news", "Authorization: Bearer TOKEN", "See org-Finance2024 for the budget",
    "scikit-learn and task-force", "How does Bearer authentication work with OAuth2?",
])
def test_ordinary_prose_is_left_alone(prose: str) -> None:
    assert redact(prose, env={}) == prose


def test_a_request_quoting_a_key_shape_replays_after_reloading(tmp_path: Path) -> None:
    """Stored and looked-up requests are redacted alike, so the answer is found again."""
    from lessonkit.harness.recording import Cassette
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "is sk-proj-" + "A1b2C3d4" * 3 + " a key?"}]}
    cassette = Cassette(tmp_path / "r.json")
    cassette.add("chat", body, {"status": 200, "chunks": []}, "authored")
    assert "sk-proj-" not in (tmp_path / "r.json").read_text()
    assert Cassette(tmp_path / "r.json").has("chat", body)


def test_a_password_in_a_database_url_is_redacted_wherever_it_appears():
    from lessonkit.support.redact import redact
    password = "Pg-" + "pass-1234"
    text = f"connection to postgresql://alice:{password}@db:5432/class failed; postgres://bob:{password}@h/x"
    out = redact(text, {})
    assert password not in out
    assert "postgresql://alice:[redacted password]@db:5432/class" in out and "postgres://bob:[redacted password]@h/x" in out
    assert redact("see http://example.org:80/a@b and https://a.b/c", {}) == "see http://example.org:80/a@b and https://a.b/c"
    assert redact(f"url={text}", {"LESSONKIT_DATABASE_URL": text}) == "url=[redacted secret]"
