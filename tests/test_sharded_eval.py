"""``evaluate.py devices=N``: sequences tracked by N processes (CPU here, one per GPU with
``device=cuda``), scored into the report a single-process run writes (siamfcpp.sharding)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from siamfcpp.sharding import shard_devices
from tests.test_evaluate_cli import run_evaluate

BENCHMARK = [
    "benchmark.num_sequences=3",
    "benchmark.num_frames=6",
    "benchmark.frame_width=160",
    "benchmark.frame_height=120",
]


def _results(run_dir: Path) -> tuple[dict, dict[str, str]]:
    result = json.loads((run_dir / "metrics.json").read_text())
    boxes = {p.name: p.read_text() for p in sorted(run_dir.glob("*/*/*_001.txt"))}
    return result, boxes


def test_two_cpu_shards_write_the_single_process_report(tmp_path):
    cache = f"benchmark.root={tmp_path / 'cache'}"
    run_evaluate(*BENCHMARK, cache, f"output_dir={tmp_path / 'one'}", cwd=tmp_path)
    proc = run_evaluate(
        *BENCHMARK, cache, "devices=2", f"output_dir={tmp_path / 'two'}", cwd=tmp_path
    )
    assert "tracking on 2 processes: cpu, cpu" in proc.stdout + proc.stderr
    one, one_boxes = _results(tmp_path / "one")
    two, two_boxes = _results(tmp_path / "two")
    assert len(one_boxes) == 3 and two_boxes == one_boxes  # the same bytes, every sequence
    for key in ("AO", "SR.50", "SR.75"):
        assert two["metrics"][key] == one["metrics"][key]
    assert [r["name"] for r in two["sequences"]] == [r["name"] for r in one["sequences"]]

    # resume: a sequence whose results are gone is tracked again, the others are kept
    (lost,) = [p for p in (tmp_path / "two").glob("*/*/*_001.txt") if p.name == min(one_boxes)]
    lost.unlink()
    again = run_evaluate(
        *BENCHMARK, cache, "devices=2", f"output_dir={tmp_path / 'two'}", cwd=tmp_path
    )
    assert "have results: skipped" in again.stdout + again.stderr
    assert _results(tmp_path / "two")[1] == one_boxes


def test_shard_devices():
    assert shard_devices("cpu", 3) == ["cpu", "cpu", "cpu"]
    with pytest.raises(ValueError, match="devices must be >= 1"):
        shard_devices("cpu", 0)
    too_many = torch.cuda.device_count() + 1
    with pytest.raises(RuntimeError, match=f"devices={too_many} asks for more GPUs"):
        shard_devices("cuda", too_many)
