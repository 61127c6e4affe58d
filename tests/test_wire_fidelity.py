"""Every answer form replays as it came live: a streamed refusal, logprobs, n=2, choices without logprobs.

A local server sends each answer both ways, as a stream (stream=true) and as the equivalent JSON
completion (stream=false). The same calls run live (straight to the server), through the recorder
(which always asks upstream for a stream) and from the recording with the server stopped; the
LangChain messages and the openai SDK's ``to_dict()`` must be the same in all three.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI

from lessonkit.harness.recording import Cassette, RecordingTransport, ReplayTransport
from tests.openai_server import LocalServer, twin_responder

HEAD = {"id": "chatcmpl-fidelity", "created": 1_700_000_000, "model": "gpt-4o-2024-08-06", "system_fingerprint": "fp_fidelity",
        "service_tier": "default"}
USAGE = {"prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15}
QUESTION = "Is it safe?"
LOCAL_KEY = "local-server-needs-no-key"


@dataclass(frozen=True)
class Case:
    """One answer: the choices of each streamed event, the JSON choices they add up to, and the call's parameters."""

    name: str
    streamed: list[dict[str, Any]]
    whole: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)

    def responder(self) -> Any:
        events = [{**HEAD, "object": "chat.completion.chunk", "choices": [choice]} for choice in self.streamed]
        return twin_responder(events, {**HEAD, "object": "chat.completion", "choices": self.whole}, USAGE)


def piece(delta: dict[str, Any], index: int = 0, finish: str | None = None, logprobs: Any = None) -> dict[str, Any]:
    return {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}


def token(text: str, logprob: float) -> dict[str, Any]:
    return {"token": text, "logprob": logprob, "bytes": list(text.encode()), "top_logprobs": []}


REFUSAL = ["I'm sorry, ", "but I can't ", "help with ", "that."]
WORDS = ["It", " is", " safe", "."]
TOKENS = [token(w, -0.01 * (n + 1)) for n, w in enumerate(WORDS)]
THOUGHTS = ["Think", "ing it ", "over."]

CASES = [
    Case(
        "refusal_in_fragments",
        [piece({"role": "assistant", "content": None, "refusal": ""})] + [piece({"refusal": r}) for r in REFUSAL] + [piece({}, finish="stop")],
        [{"index": 0, "message": {"role": "assistant", "content": None, "refusal": "".join(REFUSAL)}, "logprobs": None, "finish_reason": "stop"}],
    ),
    Case(
        "logprobs_on_every_chunk",
        [piece({"role": "assistant", "content": "", "refusal": None}, logprobs={"content": [], "refusal": None})]
        + [piece({"content": w}, logprobs={"content": [t], "refusal": None}) for w, t in zip(WORDS, TOKENS)]
        + [piece({}, finish="stop")],
        [{"index": 0, "message": {"role": "assistant", "content": "".join(WORDS), "refusal": None},
          "logprobs": {"content": TOKENS, "refusal": None}, "finish_reason": "stop"}],
        {"logprobs": True},
    ),
    Case(
        "two_choices",
        [piece({"role": "assistant", "content": "", "refusal": None}, index=0), piece({"role": "assistant", "content": "", "refusal": None}, index=1),
         piece({"content": "Yes"}, index=0), piece({"content": "No"}, index=1), piece({"content": "!"}, index=1),
         piece({}, index=1, finish="stop"), piece({}, index=0, finish="length")],
        [{"index": 0, "message": {"role": "assistant", "content": "Yes", "refusal": None}, "logprobs": None, "finish_reason": "length"},
         {"index": 1, "message": {"role": "assistant", "content": "No!", "refusal": None}, "logprobs": None, "finish_reason": "stop"}],
        {"n": 2},
    ),
    Case(
        "choices_without_logprobs_key",
        [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
        + [{"index": 0, "delta": {"content": w}, "finish_reason": None} for w in WORDS]
        + [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        [{"index": 0, "message": {"role": "assistant", "content": "".join(WORDS)}, "finish_reason": "stop"}],
    ),
    Case(
        "reasoning_text_in_fragments",
        [piece({"role": "assistant", "content": None, "reasoning_content": ""})] + [piece({"reasoning_content": t}) for t in THOUGHTS]
        + [piece({"content": w}) for w in WORDS] + [piece({}, finish="stop")],
        [{"index": 0, "message": {"role": "assistant", "content": "".join(WORDS), "reasoning_content": "".join(THOUGHTS)},
          "logprobs": None, "finish_reason": "stop"}],
    ),
]


def clients(case: Case, base_url: str, transport: Any, key: str) -> tuple[ChatOpenAI, openai.OpenAI]:
    """LangChain's model and the bare SDK client, both over ``transport`` (None: straight to the server)."""
    http = {"http_client": httpx.Client(transport=transport)} if transport is not None else {}
    model = ChatOpenAI(model="gpt-4o", api_key=key, base_url=base_url, stream_usage=True, max_retries=0, **case.params, **http)
    sdk = openai.OpenAI(api_key=key, base_url=base_url, max_retries=0, **http)
    return model, sdk


def exercise(case: Case, base_url: str, transport: Any, key: str) -> dict[str, Any]:
    """The same calls in every pass: invoke, stream and generate through LangChain, create (both forms) through the SDK."""
    model, sdk = clients(case, base_url, transport, key)
    messages = [HumanMessage(QUESTION)]
    generated = model.generate([messages])
    sdk_messages = [{"role": "user", "content": QUESTION}]
    return {
        "invoke": model.invoke(messages).model_dump(exclude={"id"}),
        "stream": [chunk.model_dump(exclude={"id"}) for chunk in model.stream(messages)],
        "generate": [(g.message.model_dump(exclude={"id"}), g.generation_info) for g in generated.generations[0]],
        "generate_llm_output": generated.llm_output,
        "sdk": sdk.chat.completions.create(model="gpt-4o", messages=sdk_messages, **case.params).to_dict(),
        "sdk_stream": [c.to_dict() for c in sdk.chat.completions.create(model="gpt-4o", messages=sdk_messages, stream=True, **case.params)],
    }


@pytest.fixture(scope="module", params=CASES, ids=[c.name for c in CASES])
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Case, dict[str, Any], dict[str, Any], dict[str, Any], Path]:
    """Live, recorded and replayed results of one case (run once for all the tests below), and the recording file."""
    case, path = request.param, tmp_path_factory.mktemp(request.param.name) / "fidelity.json"
    server = LocalServer(case.responder())
    try:
        live = exercise(case, server.url, None, LOCAL_KEY)
        recorded = exercise(case, server.url, RecordingTransport(Cassette(path)), LOCAL_KEY)
    finally:
        server.stop()
    replayed = exercise(case, server.url, ReplayTransport(Cassette(path)), "replay-mode-no-key")
    return case, live, recorded, replayed, path


def test_record_and_replay_give_what_live_gave(runs: Any) -> None:
    case, live, recorded, replayed, _ = runs
    for form in live:
        assert recorded[form] == live[form], f"{case.name}: record mode changed {form}"
        assert replayed[form] == live[form], f"{case.name}: replay changed {form}"


def test_the_cases_really_carry_what_they_test(runs: Any) -> None:
    """Guard the test itself: each live answer holds the feature its case is about."""
    case, live, *_ = runs
    choices = live["sdk"]["choices"]
    if case.name == "refusal_in_fragments":
        assert choices[0]["message"]["refusal"] == "".join(REFUSAL)
        assert live["invoke"]["additional_kwargs"]["refusal"] == "".join(REFUSAL)
    elif case.name == "logprobs_on_every_chunk":
        assert choices[0]["logprobs"]["content"] == TOKENS
        assert live["invoke"]["response_metadata"]["logprobs"]["content"] == TOKENS
    elif case.name == "two_choices":
        assert [c["message"]["content"] for c in choices] == ["Yes", "No!"]
        assert [g[0]["content"] for g in live["generate"]] == ["Yes", "No!"]
    elif case.name == "choices_without_logprobs_key":
        assert "logprobs" not in choices[0] and all("logprobs" not in c["choices"][0] for c in live["sdk_stream"] if c["choices"])
    else:
        assert choices[0]["message"]["reasoning_content"] == "".join(THOUGHTS)


def test_recordings_keep_their_old_shape_unless_the_answer_needs_more(runs: Any) -> None:
    """A choice index is stored only when not 0 and the choice keys only when some were missing."""
    case, _, _, _, path = runs
    responses = [i["response"] for i in json.loads(path.read_text())["interactions"]]
    indices = {c.get("index", 0) for r in responses for c in r["chunks"]}
    assert all(c.get("index") != 0 for r in responses for c in r["chunks"])
    assert indices == ({0, 1} if case.name == "two_choices" else {0})
    expected_keys = [["finish_reason"]] if case.name == "choices_without_logprobs_key" else [None]
    assert [r.get("choice_keys") for r in responses] == expected_keys * len(responses)
