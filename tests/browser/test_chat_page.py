"""The chat page (``GET /``) in Debian's Chromium against a real uvicorn serving the lesson agent in replay.

At replay speed 1 the answer's tokens arrive with their recorded gaps, so the reply must visibly grow
in the DOM; the tool call shows as a card; a reload reopens the thread (``location.hash``) and loads
its history; delete removes it from the list. A second test answers an interrupt with the page's
Approve button, and checks the saved token is sent as a bearer header. Browser launched exactly as
tests/browser/harness.py does; skipped without Chromium, failed under CI=true (require_browser).
"""
from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.messages import HumanMessage

import lessonkit
from lessonkit import checkpoints
from lessonkit.harness.recording import Cassette, Reply, Script, ScriptedCall, SearchReply
from lessonkit.serve.lesson_app import LessonServe, create_lesson_app
from lessonkit.serve.settings import LESSON_NAME, ServeSettings
from tests.browser.harness import CHROMIUM_ARGS, CHROMIUM_PATH, VIEWPORT
from tests.browser.test_harness import SCREENSHOTS, require_browser
from tests.serve import lesson_recording
from tests.serve.conftest import Served, serve

pytestmark = pytest.mark.browser

QUESTION, QUERY = lesson_recording.QUESTION, lesson_recording.QUERY
# Long enough (about 80 word pieces, 30 ms apart: ~2.5 s at speed 1) that growth is plain to see.
ANSWER = (
    "Right now it is 16°C (61°F) and foggy in San Francisco, with a light westerly breeze of about 15 km/h "
    "and humidity near 85%. The marine layer usually hangs over the western neighbourhoods and the Golden Gate "
    "through the morning, then burns off inland by early afternoon, so the Mission and SoMa may see some sun "
    "while the Sunset and Richmond stay grey. Expect a high around 18°C and a cool evening near 12°C: bring "
    "a light jacket if you are heading out, and a warmer layer if you plan to be near the water after dark."
)
SAMPLE_S = 0.02
LIMIT_S = 60.0


def record(folder: Path) -> Path:
    """An authored lesson 06 recording for the plain agent (no approval step): search, then the long answer."""
    call = ScriptedCall("tavily_search", {"query": QUERY}, "call_sf_weather")
    script = Script(
        replies=[Reply(tool_calls=(call,)), Reply(content=ANSWER, first_token_s=0.4, chunk_interval_s=0.03)],
        searches=[SearchReply(QUERY, {"query": QUERY, "results": [
            {"title": "SF weather", "url": "https://example.org/sf", "content": "San Francisco: 16C, fog", "score": 0.9}]}, 0.3)],
        note="tests/browser: authored for the chat page (a long answer, so its growth is visible)",
    )
    lesson = lessonkit.Lesson(LESSON_NAME, "record", 0.0, Cassette(folder / f"{LESSON_NAME}.json"), script=script)
    graph = lessonkit.build_agent(lesson.chat_model(), [lesson.search_tool()], checkpointer=checkpoints.memory_saver())
    graph.invoke({"messages": [HumanMessage(QUESTION)]}, {"configurable": {"thread_id": "record"}})
    return folder


class Browser:
    """Headless Chromium on one page, launched like harness.LabPage.open; console and requests kept."""

    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        try:
            self._browser = self._pw.chromium.launch(executable_path=CHROMIUM_PATH, args=list(CHROMIUM_ARGS))
            self.page = self._browser.new_context(viewport=VIEWPORT).new_page()
        except BaseException:
            self._pw.stop()
            raise
        self.console: list[str] = []
        self.requests: list[Any] = []
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        self.page.on("request", lambda r: self.requests.append(r))
        self.page.on("response", lambda r: r.status == 404 and self.console.append(f"404: {r.url}"))

    def close(self) -> None:
        try:
            self._browser.close()
        finally:
            self._pw.stop()

    def texts(self, selector: str) -> list[str]:
        return [str(t) for t in self.page.eval_on_selector_all(selector, "els => els.map(e => e.textContent)")]

    def wait_for(self, js: str, arg: Any = None, what: str = "", timeout_s: float = LIMIT_S) -> None:
        try:
            self.page.wait_for_function(js, arg=arg, timeout=timeout_s * 1000)
        except Exception as error:  # playwright's TimeoutError: say what we waited for, with the console
            raise AssertionError(f"timed out waiting for {what or js}; console {self.console[-10:]}") from error


@pytest.fixture
def browser() -> Iterator[Browser]:
    require_browser()
    opened = Browser()
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def paced(tmp_path: Path) -> Iterator[Served]:
    """The lesson agent replayed at speed 1 (tokens keep their recorded gaps) on a real uvicorn."""
    folder = record(tmp_path / "recordings")
    app = create_lesson_app(LessonServe(mode="replay", speed=1, database=tmp_path / "serve.db"),
                            ServeSettings(recordings_dir=folder))
    with serve(app) as running:
        yield running


LAST_REPLY = "() => { const t = document.querySelectorAll('.msg.ai .text'); return t.length ? t[t.length - 1].textContent : ''; }"
SAMPLE = ("() => { const t = document.querySelectorAll('.msg.ai .text');"
          " return [t.length ? t[t.length - 1].textContent.length : 0, !document.getElementById('send').disabled]; }")


def sample_reply_lengths(page: Any) -> list[int]:
    """The last reply's length, sampled until the run is over (Send enabled again); bounded."""
    lengths: list[int] = []
    for _ in range(int(LIMIT_S / SAMPLE_S)):
        length, idle = page.evaluate(SAMPLE)
        lengths.append(int(length))
        if idle and length:
            return lengths
        time.sleep(SAMPLE_S)
    raise AssertionError(f"the run did not finish within {LIMIT_S} s; lengths so far {lengths[-10:]}")


def test_chat_page_streams_a_reply_then_reloads_history_and_deletes(browser: Browser, paced: Served) -> None:
    page = browser.page
    response = page.goto(paced.url + "/", wait_until="domcontentloaded")
    assert response is not None and response.status == 200
    csp = response.headers.get("content-security-policy", "")
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp, csp
    browser.wait_for("() => document.querySelector('#thread-list li') !== null", what="the thread list")
    assert browser.texts("#thread-list li") == ["No threads yet. Send a message to start one."]

    page.fill("#message", QUESTION)
    page.click("#send")
    lengths = sample_reply_lengths(page)

    growth = [b for a, b in itertools.pairwise(lengths) if b > a]
    assert len(growth) >= 3 and 0 < growth[0] < len(ANSWER), f"the reply did not grow in steps: {lengths}"
    assert page.evaluate(LAST_REPLY) == ANSWER, browser.console
    assert browser.texts(".msg.human .text") == [QUESTION]
    calls = browser.texts(".card.tool-call")
    assert len(calls) == 1 and "tavily_search" in calls[0] and QUERY in calls[0], calls
    results = browser.texts(".card.tool-result.ok")
    assert len(results) == 1 and "San Francisco: 16C, fog" in results[0], results
    assert not browser.texts(".alert"), browser.texts(".alert")

    thread = page.evaluate("() => location.hash").removeprefix("#thread=")
    assert thread.startswith("chat-"), thread
    browser.wait_for("(id) => !!document.querySelector(`#thread-list button[data-thread='${id}'][aria-current='true']`)",
                     thread, "the new thread in the list")
    browser.wait_for("() => /saved/.test(document.getElementById('conv-meta').textContent)", what="the saved count")
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "chat_page.png"))

    page.reload(wait_until="domcontentloaded")  # the hash reopens the thread; its history comes from the server
    browser.wait_for("(answer) => [...document.querySelectorAll('.msg.ai .text')].some(e => e.textContent === answer)",
                     ANSWER, "the history after a reload")
    assert browser.texts(".msg.human .text") == [QUESTION]
    assert [t for t in browser.texts(".msg.ai .text")] == [ANSWER]
    assert len(browser.texts(".card.tool-call")) == 1 and len(browser.texts(".card.tool-result")) == 1
    assert page.text_content("#conv-title") == thread
    assert page.text_content("#conv-meta") == "4 messages saved"

    page.click("#delete-thread")
    assert page.text_content("#delete-thread") == "Click again to delete"  # one click never deletes
    page.click("#delete-thread")
    browser.wait_for("(id) => !document.querySelector(`#thread-list button[data-thread='${id}']`)", thread,
                     "the deleted thread to leave the list")
    assert page.evaluate("() => location.hash") == ""
    with paced.client() as client:
        assert client.get(f"/threads/{thread}/history").status_code == 404

    foreign = [r.url for r in browser.requests if not r.url.startswith(paced.url + "/")]
    assert not foreign, f"the page fetched something from elsewhere: {foreign}"
    problems = [line for line in browser.console if line.startswith(("error", "pageerror", "404"))]
    assert not problems, problems


def test_chat_page_answers_an_interrupt_and_sends_the_saved_token(tmp_path: Path, browser: Browser) -> None:
    folder = lesson_recording.record(tmp_path / "recordings")  # approve_tools=True: the search waits for a person
    app = create_lesson_app(LessonServe(mode="replay", speed=0, database=tmp_path / "serve.db", approve_tools=True),
                            ServeSettings(recordings_dir=folder))
    with serve(app) as served:
        page = browser.page
        page.goto(served.url + "/#thread=approve-1", wait_until="domcontentloaded")
        page.click("#token-box summary")
        page.fill("#token", "student-token-1")
        page.click("#token-form button")
        browser.wait_for("() => /saved in this browser/.test(document.getElementById('token-state').textContent)",
                         what="the token to be saved")
        since_token = len(browser.requests)

        page.fill("#message", QUESTION)
        page.press("#message", "Enter")
        browser.wait_for("() => !!document.querySelector('.card.interrupt button.primary')", what="the interrupt card")
        assert "Run these tool calls?" in browser.texts(".card.interrupt")[0]
        browser.wait_for("() => !document.getElementById('send').disabled", what="the paused run to end")

        page.reload(wait_until="domcontentloaded")  # a pending interrupt is shown again from GET /state
        browser.wait_for("() => !!document.querySelector('.card.interrupt button.primary')", what="the interrupt after a reload")
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "chat_page_interrupt.png"))
        page.click(".card.interrupt button.primary")
        browser.wait_for("(a) => [...document.querySelectorAll('.msg.ai .text')].some(e => e.textContent === a)",
                         lesson_recording.ANSWER, "the answer after approving")
        assert len(browser.texts(".card.tool-result.ok")) == 1
        assert page.is_disabled(".card.interrupt button.primary")

        api = [r for r in browser.requests[since_token:] if "/threads" in r.url or r.url.endswith("/info")]
        assert len(api) >= 4 and all(r.headers.get("authorization") == "Bearer student-token-1" for r in api), \
            [(r.url, r.headers.get("authorization")) for r in api]
        with httpx.Client(base_url=served.url) as client:
            assert [m["type"] for m in client.get("/threads/approve-1/history").json()["messages"]][-1] == "ai"
        problems = [line for line in browser.console if line.startswith(("error", "pageerror", "404"))]
        assert not problems, problems
