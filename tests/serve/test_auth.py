"""Bearer-token auth: the tokens file, the bind rule, and the auth matrix against a real server.

Two users (alice, bob) on one server: no token, a wrong token and the right one on every route; and
every thread route of alice's thread seen by bob is a 404 (history, state, clear, delete, fork, resume,
rejoin by thread and by run id, WebSocket), while his listing holds only his own threads.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from lessonkit.serve import ServeSettings
from lessonkit.serve.auth import (
    TokensFileError,
    bearer_token,
    bind_refusal,
    is_loopback,
    load_tokens,
    parse_tokens,
)
from lessonkit.serve.background import background

from .conftest import Served, serve
from .fakes import Gate
from .sse_client import stream
from .test_run_control import gated_app

ALICE = "alice-Tok3n-0123456789abcdef"
BOB = "bob-Tok3n-fedcba9876543210xyz"
ALICE_SPARE = "alice-spare-t0ken-5555555555"
TOKENS = f"# the class of 2025\nalice {ALICE}\n\nbob   {BOB}\nalice {ALICE_SPARE}\n"
SETTINGS = ServeSettings(heartbeat_s=0.05, run_timeout_s=60, tokens=parse_tokens(TOKENS))


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- the tokens file, pure ---------------------------------------------------------------------

def test_tokens_file_pairs_users_with_tokens() -> None:
    table = parse_tokens(TOKENS)
    assert table.users == ("alice", "bob")
    assert table.user_for(ALICE) == "alice" and table.user_for(ALICE_SPARE) == "alice" and table.user_for(BOB) == "bob"
    assert table.user_for(ALICE + "x") is None and table.user_for(ALICE[:-1]) is None
    assert table.user_for("") is None and table.user_for(None) is None
    assert ALICE not in repr(table) and BOB not in repr(table) and "alice" in repr(table)
    assert ALICE not in repr(SETTINGS)  # a settings dump never shows a token


@pytest.mark.parametrize("text, line, problem", [
    ("alice\n", 1, "found 1 field"),
    ("# ok\nalice tok en-0123456789abcdef\n", 2, "found 3 fields"),
    ("\n\nal/ice 0123456789abcdef0123\n", 3, "user name"),
    ("alice sh0rt-secret\n", 1, "characters long"),
    (f"alice {ALICE}\nbob {ALICE}\n", 2, "already given to user 'alice'"),
])
def test_a_bad_line_is_named_and_its_token_never_shown(text: str, line: int, problem: str) -> None:
    with pytest.raises(TokensFileError) as caught:
        parse_tokens(text, "class.tokens")
    message = str(caught.value)
    assert f"class.tokens, line {line}:" in message and problem in message
    for secret in ("sh0rt-secret", ALICE, "en-0123456789abcdef", "0123456789abcdef0123"):
        assert secret not in message


def test_an_empty_or_missing_tokens_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TokensFileError, match="holds no 'user token' lines"):
        parse_tokens("# nobody yet\n\n")
    with pytest.raises(TokensFileError, match="no tokens file at"):
        load_tokens(tmp_path / "absent.tokens")


@pytest.mark.parametrize("header, token", [
    (f"Bearer {ALICE}", ALICE), (f"bearer   {ALICE} ", ALICE), (f"Basic {ALICE}", None), ("Bearer", None), (None, None), ("", None),
])
def test_bearer_header_parsing(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.20", False), ("10.0.0.1", False), ("example.org", False), ("", False),
])
def test_bind_rule(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    assert (bind_refusal(host, has_tokens=False) is None) is loopback
    assert bind_refusal(host, has_tokens=True) is None  # with tokens any address is allowed
    if not loopback:
        assert "--tokens" in bind_refusal(host, has_tokens=False)  # type: ignore[operator]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lessonkit", "serve", *args], check=False, capture_output=True, text=True, timeout=60)


def test_the_cli_refuses_a_public_address_without_tokens_before_binding() -> None:
    result = _cli("--host", "0.0.0.0", "--port", "1")  # port 1 would fail to bind: the refusal comes first
    assert result.returncode == 2
    assert "refusing to listen on '0.0.0.0' without --tokens" in result.stderr and "Traceback" not in result.stderr


def test_the_cli_names_a_bad_tokens_line_without_the_token(tmp_path: Path) -> None:
    tokens = tmp_path / "class.tokens"
    tokens.write_text(f"alice {ALICE}\nbob not-long\n")
    result = _cli("--tokens", str(tokens), "--port", "1")
    assert result.returncode == 2 and f"{tokens}, line 2:" in result.stderr
    assert "not-long" not in result.stderr and ALICE not in result.stderr and "Traceback" not in result.stderr


# --- the auth matrix, against a real server --------------------------------------------------

@pytest.fixture(scope="module")
def gate() -> Gate:
    gate = Gate()
    gate.open()  # nothing here waits at the gate
    return gate


@pytest.fixture(scope="module")
def served(module_tmp: Path, gate: Gate):
    with serve(gated_app(module_tmp / "auth.db", gate, SETTINGS)) as running:
        yield running


@pytest.fixture(scope="module")
def alice_thread(served: Served) -> dict[str, Any]:
    """alice's threads 'alice-1' and 'alice-2' with one finished turn each: alice-1's run id and checkpoint id."""
    with served.client(headers=auth(ALICE)) as client:
        events, done = stream(client, "alice-1", message="hello from alice", on_disconnect="continue")
        assert done and stream(client, "alice-2", message="only alice has this one")[1]
        state = client.get("/threads/alice-1/state").json()
    return {"run_id": events[0][1]["run_id"], "checkpoint_id": state["checkpoint_id"]}


PROTECTED = [("GET", "/threads"), ("GET", "/info"), ("GET", "/threads/alice-1/history"), ("GET", "/threads/alice-1/state"),
             ("PUT", "/threads/alice-1/clear"), ("DELETE", "/threads/alice-1"), ("POST", "/threads/alice-1/fork"),
             ("POST", "/threads/alice-1/runs/stream"), ("GET", "/threads/alice-1/runs/stream")]
BODIES = {"/threads/alice-1/fork": {"checkpoint_id": "x"}, "/threads/alice-1/runs/stream": {"message": "hi"}}


@pytest.mark.parametrize("method, path", PROTECTED)
@pytest.mark.parametrize("headers, why", [({}, "needs a bearer token"), (auth("wrong-" + ALICE), "not valid"),
                                          ({"Authorization": f"Basic {ALICE}"}, "needs a bearer token")])
def test_no_or_wrong_token_is_401_with_a_bearer_challenge(served: Served, alice_thread: dict[str, Any], method: str,
                                                          path: str, headers: dict[str, str], why: str) -> None:
    with served.client() as client:
        response = client.request(method, path, headers=headers, json=BODIES.get(path) if method in ("POST", "PUT") else None)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert why in response.json()["detail"]
    assert ALICE not in response.text and "wrong-" not in response.text


def test_public_routes_need_no_token(served: Served) -> None:
    with served.client() as client:
        for path in ("/health", "/openapi.json", "/docs"):
            assert client.get(path).status_code == 200, path
        schema = client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "a token from the server's tokens file (--tokens)"}
    assert "security" not in schema["paths"]["/health"]["get"]
    assert schema["paths"]["/threads"]["get"]["security"] == [{"bearer": []}]


def test_the_right_token_names_the_user(served: Served) -> None:
    for token, user in ((ALICE, "alice"), (ALICE_SPARE, "alice"), (BOB, "bob")):
        with served.client(headers=auth(token)) as client:
            assert client.get("/info").json()["user"] == user


def test_another_users_thread_is_404_everywhere(served: Served, alice_thread: dict[str, Any]) -> None:
    run_id, checkpoint = alice_thread["run_id"], alice_thread["checkpoint_id"]
    with served.client(headers=auth(BOB)) as bob:
        answers = {
            "history": bob.get("/threads/alice-1/history"),
            "state": bob.get("/threads/alice-1/state"),
            "clear": bob.put("/threads/alice-1/clear"),
            "fork": bob.post("/threads/alice-1/fork", json={"checkpoint_id": checkpoint}),
            "resume": bob.post("/threads/alice-1/runs/stream", json={"resume": "approve"}),
            "rejoin": bob.get("/threads/alice-1/runs/stream"),
            "rejoin run": bob.get(f"/threads/alice-1/runs/{run_id}/stream"),
            "delete": bob.delete("/threads/alice-1"),
        }
    for what, response in answers.items():
        assert response.status_code == 404, (what, response.text)
        assert "alice/" not in response.json()["detail"], what  # the stored id (owner/thread) is never shown
    with served.client(headers=auth(ALICE)) as alice:
        history = alice.get("/threads/alice-1/history").json()
        assert [m["content"] for m in history["messages"]] == ["hello from alice", "You said: hello from alice"]
        assert alice.get(f"/threads/alice-1/runs/{run_id}/stream").status_code == 200  # alice herself can rejoin


def test_the_same_public_id_is_two_conversations_and_listings_are_filtered(served: Served, alice_thread: dict[str, Any]) -> None:
    with served.client(headers=auth(BOB)) as bob:
        events, done = stream(bob, "alice-1", message="bob here")  # bob's own 'alice-1'
        assert done and events[-1][1]["status"] == "done"
        stream(bob, "bob-1", message="bob again")
        bob_threads = [t["thread_id"] for t in bob.get("/threads").json()["threads"]]
        assert [m["content"] for m in bob.get("/threads/alice-1/history").json()["messages"]] == ["bob here", "You said: bob here"]
    with served.client(headers=auth(ALICE)) as alice:
        alice_threads = [t["thread_id"] for t in alice.get("/threads").json()["threads"]]
        assert alice.get("/threads/alice-1/history").json()["messages"][0]["content"] == "hello from alice"
    assert bob_threads == ["alice-1", "bob-1"]
    assert "bob-1" not in alice_threads and "alice-1" in alice_threads


def _handshake_status(url: str, **kwargs: Any) -> int:
    async def attempt() -> int:
        try:
            async with websockets.connect(url, open_timeout=10, **kwargs):
                return 101
        except InvalidStatus as refused:
            return refused.response.status_code

    return asyncio.run(attempt())


def test_websocket_needs_a_token_in_the_header_or_the_query(served: Served) -> None:
    url = f"{served.ws_url}/threads/ws-1/ws"
    assert _handshake_status(url) == 401
    assert _handshake_status(url, additional_headers=auth("wrong-" + BOB)) == 401
    assert _handshake_status(f"{url}?token=wrong-{BOB}") == 401
    assert _handshake_status(url, additional_headers=auth(BOB)) == 101
    assert _handshake_status(f"{url}?token={BOB}") == 101


def test_websocket_turn_and_another_users_thread(served: Served, alice_thread: dict[str, Any]) -> None:
    async def talk() -> list[dict[str, Any]]:
        async with websockets.connect(f"{served.ws_url}/threads/alice-2/ws?token={BOB}", open_timeout=10) as socket:
            replies = []
            for request in ({"type": "resume", "resume": "approve"}, {"type": "cancel"}):
                await socket.send(json.dumps(request))
                replies.append(json.loads(await asyncio.wait_for(socket.recv(), 20)))
            return replies

    resume, cancel = asyncio.run(talk())
    assert resume["type"] == "error" and resume["error"] == "not_found"  # bob has no 'alice-2' to resume
    assert cancel["error"] == "no_run"


def test_a_token_typed_into_a_message_never_comes_back(served: Served) -> None:
    with served.client(headers=auth(ALICE)) as client:
        events, done = stream(client, "leak-1", message=f"my token is {ALICE} and bob's is {BOB}")
        history = client.get("/threads/leak-1/history").text
    text = json.dumps([e for _, e in events])
    assert done and "[redacted token]" in text
    for secret in (ALICE, BOB):
        assert secret not in text and secret not in history


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_no_token_in_log_lines(module_tmp: Path, gate: Gate) -> None:
    """uvicorn logs a WebSocket's path with its query string: the token in ``?token=`` must not reach the log."""
    collect = _Collect()
    names = ("uvicorn.error", "uvicorn.access", "lessonkit.serve")
    settings = dataclasses.replace(SETTINGS)
    with background(gated_app(module_tmp / "logs.db", gate, settings), log_level="info") as running:
        for name in names:
            logging.getLogger(name).addHandler(collect)
        try:
            assert _handshake_status(f"{running.ws_url}/threads/log-1/ws?token={ALICE}") == 101
            assert _handshake_status(f"{running.ws_url}/threads/log-1/ws?token=wrong-{BOB}") == 401
            with running_client(running.url, ALICE) as client:
                client.get("/threads")
                client.get("/threads", headers=auth("wrong-" + BOB))
        finally:
            for name in names:
                logging.getLogger(name).removeHandler(collect)
    logged = "\n".join(collect.lines)
    assert "/threads/log-1/ws?token=[redacted token]" in logged and "GET /threads" in logged
    for secret in (ALICE, BOB):
        assert secret not in logged


def running_client(url: str, token: str) -> Any:
    import httpx

    return httpx.Client(base_url=url, headers=auth(token), timeout=30)
