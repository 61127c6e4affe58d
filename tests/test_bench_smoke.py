"""Every benchmark runs at a small size in CI, so none of them rots. No speed is asserted here:
speed is measured in bench/ (docs/benchmarks.md), never as a wall-clock limit in a test."""
from __future__ import annotations

import sys

import pytest

from bench import checkpointer_growth, fidelity, lookup, serve_load, suite_cost, throughput, traffic


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
    result = checkpointer_growth.main(["--turns", "10"])
    for saver in ("SqliteSaver", "AsyncSqliteSaver", "InMemorySaver"):
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
