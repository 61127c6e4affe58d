"""Every benchmark runs at a small size in CI, so none of them rots. No speed is asserted here:
speed is measured in bench/ (docs/benchmarks.md), never as a wall-clock limit in a test."""
from __future__ import annotations

import sys

import pytest

from langchain_core.messages import AIMessage, HumanMessage

from bench import checkpointer_growth, class_load, fidelity, lookup, serve_load, suite_cost, throughput, traffic
from lessonkit.local_postgres import LocalPostgres
from tests.postgres_server import postgres_server, postgres_url  # noqa: F401


def run(module, monkeypatch: pytest.MonkeyPatch, *argv: str) -> dict:
    monkeypatch.setattr(sys, "argv", [module.__name__, *argv])
    return module.main()


def test_throughput_small(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run(throughput, monkeypatch, "--chunks", "300", "--runs", "1")
    assert result["chunks"] == 300 and result["ratio_median"] > 0


def test_traffic_small(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run(traffic, monkeypatch, "--tokens", "200", "--runs", "1")
    assert result["naive_bytes"] > result["lessonkit_bytes_at_speed_0"] > result["text_bytes"]
    assert result["max_flushes_in_any_second"] <= 20  # the budget itself is deterministic


def test_fidelity_small(monkeypatch: pytest.MonkeyPatch) -> None:
    result = run(fidelity, monkeypatch, "--runs", "1")
    assert result["replayed_ttft_s_median"] > 0 and result["replayed_duration_s_median"] >= result["replayed_ttft_s_median"]


def test_checkpointer_growth_small() -> None:
    result = checkpointer_growth.main(["--turns", "10", "--no-postgres"])
    assert set(result["savers"]) == {"SqliteSaver", "AsyncSqliteSaver", "InMemorySaver"} and set(result["skipped"]) == {"PostgresSaver", "AsyncPostgresSaver"}
    for saver in ("SqliteSaver", "AsyncSqliteSaver", "InMemorySaver"):
        assert set(result["savers"][saver]["latency_ms"]) == {10}
        assert result["savers"][saver]["size_bytes"][10] > 0


def test_checkpointer_growth_postgres_small(postgres_server: LocalPostgres) -> None:  # noqa: F811
    result = checkpointer_growth.main(["--turns", "10"], postgres=postgres_server)
    assert result["skipped"] == {}
    for saver in ("PostgresSaver", "AsyncPostgresSaver"):
        assert set(result["savers"][saver]["latency_ms"]) == {10}
        assert result["savers"][saver]["size_bytes"][10] > 0


def test_suite_cost_small() -> None:
    result = suite_cost.main(["--runs", "1", "--lessons", "00_quickstart"])
    assert result["floor_s_median"] > 0 and "00_quickstart" in result["lessons"]


def test_lookup_small() -> None:
    result = lookup.main(["--sizes", "10,20", "--lookups", "5", "--repeats", "1"])
    assert set(result["sizes"]) == {10, 20}


def test_serve_load_small() -> None:
    result = serve_load.main(["--clients", "3", "--runs", "1", "--tokens", "20", "--first-token", "0.05", "--interval", "0.005",
                              "--client-timeout", "60", "--overall-timeout", "240"])
    row = result["per_clients"][3]
    assert row["server_errors"] == 0 and row["inprocess_errors"] == 0
    assert row["server_ttft_median_s"] > 0 and row["inprocess_ttft_median_s"] > 0 and row["ttft_ratio_median"] > 0
    assert row["server_tokens_per_s"] > 0 and row["mb_per_stream"] is not None
    assert result["turns_expected"] == result["turns_on_disk"] == 4  # the warm-up turn and 3 clients
    assert result["turns_lost"] == 0


CLASS_SMALL = ["--students", "3", "--turns", "2", "--speed", "0", "--probe-seconds", "0", "--client-timeout", "60", "--overall-timeout", "240"]


def check_class(result: dict, configs: set[str]) -> None:
    assert set(result["configs"]) == configs and result["turns_lost"] == 0 and result["threads_not_as_sent"] == 0
    for row in result["configs"].values():
        assert row["errors"] == 0 and row["turns_lost"] == 0 and row["turns"] == row["turns_sent"] == 6
        assert row["turns_found"] == row["turns_expected"] == 6 + row["instances"]  # and a warm-up turn per instance
        assert row["threads_in_database"] == row["threads_expected"] == 3 + row["instances"]
        assert row["turns_per_s"] > 0 and row["ttft_p95_s"] >= row["ttft_p50_s"] > 0


def test_class_load_sqlite_small() -> None:
    check_class(class_load.main([*CLASS_SMALL, "--configs", "sqlite"]), {"sqlite"})


def test_class_load_postgres_small(postgres_server: LocalPostgres) -> None:  # noqa: F811
    result = class_load.main([*CLASS_SMALL, "--configs", "postgres,two_instances"], postgres=postgres_server)
    check_class(result, {"postgres", "two_instances"})
    assert set(result["ratios"]) == {"two_vs_one_instance_turns_per_s", "two_vs_one_instance_ttft_p95"}


def test_class_load_counts_a_lost_or_misplaced_turn() -> None:
    texts = class_load.answers(3, 5)
    turn = [HumanMessage(class_load.QUESTION), AIMessage(texts[0]), HumanMessage(class_load.QUESTION), AIMessage(texts[1])]
    assert class_load.turns_found(turn, texts) == 2
    assert class_load.turns_found(turn[:3], texts) == 1  # a question left without its answer
    assert class_load.turns_found([*turn[:2], *turn[:2]], texts) == 1  # turn 1 answered again where turn 2 belongs
    assert class_load.turns_found(turn[2:], texts) == 0 and class_load.turns_found([], texts) == 0  # turn 2 first
