"""A small OpenAI-compatible (and Tavily-compatible) HTTP server on 127.0.0.1 for tests.

It answers with whatever its ``responder`` returns, streams SSE events with a real delay between
them, and keeps every request it saw (headers and body) so tests can check what went over the wire.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

Reply = tuple[int, str, list[bytes]]  # status, content type, body parts (one part per SSE event)
Responder = Callable[[str, dict[str, Any]], Reply]
POLL_S = 0.01


@dataclass
class SeenRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class LocalServer:
    responder: Responder
    delay: float = 0.005
    seen: list[SeenRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                body = json.loads(raw or b"{}")
                server.seen.append(SeenRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status, content_type, parts = server.responder(self.path, body)
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("connection", "close")
                self.end_headers()
                for part in parts:
                    self.wfile.write(part)
                    self.wfile.flush()
                    if len(parts) > 1:
                        time.sleep(server.delay)

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # shutdown() waits for the loop's next poll: at the default 0.5 s, every stop cost half a second idle
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": POLL_S}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def sse(events: list[dict[str, Any]]) -> list[bytes]:
    return [b"data: " + json.dumps(e).encode() + b"\n\n" for e in events] + [b"data: [DONE]\n\n"]


def echo_responder(path: str, body: dict[str, Any]) -> Reply:
    """A tiny fake model: calls a tool when asked to, otherwise echoes the last user message."""
    if path.endswith("/search"):
        result = {"query": body["query"], "results": [{"title": "Local", "url": "http://127.0.0.1/", "content": f"about {body['query']}", "score": 0.5}]}
        return 200, "application/json", [json.dumps(result).encode()]
    last = body["messages"][-1]
    wants_tool = body.get("tools") and last["role"] == "user" and "look it up" in last["content"]
    head = {"id": "chatcmpl-local-1", "object": "chat.completion.chunk", "created": 1700000000, "model": body["model"] + "-2024-08-06",
            "system_fingerprint": "fp_local", "service_tier": "default"}
    usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18,
             "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
             "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}
    if wants_tool:
        args = json.dumps({"query": last["content"]})
        deltas = [{"role": "assistant", "content": None, "tool_calls": [{"index": 0, "id": "call_local_1", "type": "function", "function": {"name": body["tools"][0]["function"]["name"], "arguments": ""}}], "refusal": None}]
        deltas += [{"tool_calls": [{"index": 0, "function": {"arguments": args[i:i + 5]}}]} for i in range(0, len(args), 5)]
        finish, message = "tool_calls", {"role": "assistant", "content": None, "tool_calls": [{"id": "call_local_1", "type": "function", "function": {"name": body["tools"][0]["function"]["name"], "arguments": args}}], "refusal": None, "annotations": []}
    else:
        text = "You said: " + (last["content"] if isinstance(last["content"], str) else json.dumps(last["content"]))
        deltas = [{"role": "assistant", "content": "", "refusal": None}] + [{"content": w} for w in text.replace(" ", " \0").split("\0")]
        finish, message = "stop", {"role": "assistant", "content": text, "refusal": None, "annotations": []}
    if not body.get("stream"):
        completion = {**head, "object": "chat.completion", "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}], "usage": usage}
        return 200, "application/json", [json.dumps(completion).encode()]
    events = [{**head, "choices": [{"index": 0, "delta": d, "logprobs": None, "finish_reason": None}]} for d in deltas]
    events.append({**head, "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": finish}]})
    if (body.get("stream_options") or {}).get("include_usage"):
        events.append({**head, "choices": [], "usage": usage})
    return 200, "text/event-stream; charset=utf-8", sse(events)


# -- upstreams that quote the secrets they were sent (tests/test_secrets.py) --------------------------
ORG_FALLBACK = "org-" + "UpstreamOrg" + "0" * 13  # used when the client sent no OpenAI-Organization header


def masked_key(key: str) -> str:
    """How OpenAI's 401 quotes a key: its prefix and last 4, the rest starred."""
    return key[:8] + "*" * max(len(key) - 12, 3) + key[-4:]


def leaky_reply(status: int, path: str, headers: dict[str, str]) -> Reply:
    """OpenAI's own 401 (masked key) and 429 (org id) wording, or a debugging proxy's 400 echoing every header."""
    sent_key = headers.get("authorization", "").removeprefix("Bearer ")
    org = headers.get("openai-organization", ORG_FALLBACK)
    if path.endswith("/search"):  # Tavily's error shape: {"detail": {"error": ...}}
        detail = {"error": f"Unauthorized: bad API key; request headers were {json.dumps(headers)}"}
        return status, "application/json", [json.dumps({"detail": detail}).encode()]
    if status == 401:
        error = {"message": f"Incorrect API key provided: {masked_key(sent_key)}. You can find your API key at "
                 "https://platform.openai.com/account/api-keys.", "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}
    elif status == 429:
        error = {"message": f"Rate limit reached for gpt-4o in organization {org} on tokens per min (TPM): Limit 30000, "
                 "Used 30000, Requested 1200. Please try again in 2.4s.", "type": "tokens", "param": None, "code": "rate_limit_exceeded"}
    else:
        error = {"message": f"proxy could not forward the request; headers it got: {json.dumps(headers)}",
                 "type": "invalid_request_error", "param": None, "code": None}
    return status, "application/json", [json.dumps({"error": error}).encode()]


def leaky_server(status: int) -> LocalServer:
    """A local upstream answering every request with ``leaky_reply(status, ...)`` for the headers it got."""
    server = LocalServer(lambda path, body: leaky_reply(status, path, server.seen[-1].headers))
    return server


def twin_responder(events: list[dict[str, Any]], completion: dict[str, Any], usage: dict[str, Any]) -> Responder:
    """One answer in both forms: these SSE events when the request streams, this JSON completion when not.

    A usage-only event (built from the first event's id and model) follows when the request asks for it.
    """
    def respond(path: str, body: dict[str, Any]) -> Reply:
        if not body.get("stream"):
            return 200, "application/json", [json.dumps({**completion, "usage": usage}).encode()]
        tail = []
        if (body.get("stream_options") or {}).get("include_usage"):
            tail.append({**{k: v for k, v in events[0].items() if k != "choices"}, "choices": [], "usage": usage})
        return 200, "text/event-stream; charset=utf-8", sse(events + tail)

    return respond
