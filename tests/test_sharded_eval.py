"""``evaluate.py devices=N``: sequences tracked by N processes (CPU here, one per GPU with
``device=cuda``), scored into the report a single-process run writes
(siamfcpp.evaluation.sharding)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest
import torch

from siamfcpp.evaluation.datasets.synthetic import SyntheticBenchmark
from siamfcpp.evaluation.sharding import shard_devices
from tests.test_evaluate_cli import run_evaluate

SIZE = {"num_sequences": 3, "num_frames": 6, "frame_width": 160, "frame_height": 120, "seed": 0}
BENCHMARK = [f"benchmark.{key}={value}" for key, value in SIZE.items()]


def _results(run_dir: Path) -> tuple[dict, dict[str, str]]:
    result = json.loads((run_dir / "metrics.json").read_text())
    boxes = {p.name: p.read_text() for p in sorted(run_dir.glob("*/*/*_001.txt"))}
    return result, boxes


def test_two_cpu_shards_write_the_single_process_report(tmp_path):
    # one grayscale frame: the workers' frame conversions must reach the report too
    data = SyntheticBenchmark(root=tmp_path / "cache", **SIZE)
    frame = data.sequences()[1].frames[2]
    cv2.imwrite(str(frame), cv2.cvtColor(cv2.imread(str(frame)), cv2.COLOR_BGR2GRAY))
    cache = f"benchmark.root={tmp_path / 'cache'}"

    run_evaluate(*BENCHMARK, cache, f"output_dir={tmp_path / 'one'}", cwd=tmp_path)
    two_dir = tmp_path / "two"
    proc = run_evaluate(*BENCHMARK, cache, "devices=2", f"output_dir={two_dir}", cwd=tmp_path)
    assert "tracking 3 sequences on 2 processes: cpu, cpu" in proc.stdout + proc.stderr
    one, one_boxes = _results(tmp_path / "one")
    two, two_boxes = _results(two_dir)
    assert len(one_boxes) == 3 and two_boxes == one_boxes  # the same bytes, every sequence
    for key in ("AO", "SR.50", "SR.75"):
        assert two["metrics"][key] == one["metrics"][key]
    assert [r["name"] for r in two["sequences"]] == [r["name"] for r in one["sequences"]]
    assert two["frame_conversions"] == one["frame_conversions"] == {"grayscale": 1}

    # resume, in lockstep: the results of shard 0's two sequences are gone; shard 0 tracks them
    # together (batch_sequences=2), shard 1 finds its sequence done
    names = sorted(one_boxes)
    for name in names[0::2]:
        (lost,) = two_dir.glob(f"*/*/{name}")
        lost.unlink()
    again = run_evaluate(
        *BENCHMARK,
        cache,
        "devices=2",
        "batch_sequences=2",
        f"output_dir={two_dir}",
        cwd=tmp_path,
    )
    assert "1 of 1 sequences have results: skipped" in again.stdout + again.stderr
    resumed, resumed_boxes = _results(two_dir)
    assert resumed_boxes == one_boxes
    assert resumed["metrics"]["AO"] == one["metrics"]["AO"]


def test_shard_devices():
    assert shard_devices("cpu", 3) == ["cpu", "cpu", "cpu"]
    with pytest.raises(ValueError, match="devices must be >= 1"):
        shard_devices("cpu", 0)
    with pytest.raises(ValueError, match="give device=cuda"):
        shard_devices("cuda:1", 2)
    too_many = torch.cuda.device_count() + 1
    with pytest.raises(RuntimeError, match=f"devices={too_many} asks for more GPUs"):
        shard_devices("cuda", too_many)


@pytest.mark.slow
def test_vot_shards_write_the_single_process_report(tmp_path):
    """The VOT reset protocol has its own loop (benchmarks/vot.py): 2 shards of its 3 sequences
    give the single process's trajectories and accuracy / robustness / EAO."""
    from tests.test_vot_benchmark import write_workspace

    vot = [
        "benchmark=vot2018",
        f"benchmark.root={write_workspace(tmp_path / 'vot')}",
        "benchmark.sequences=[alpha,beta,gamma]",
    ]
    runs = {}
    for devices in (1, 2):
        run_dir = tmp_path / f"devices{devices}"
        run_evaluate(*vot, f"devices={devices}", f"output_dir={run_dir}", cwd=tmp_path)
        result = json.loads((run_dir / "metrics.json").read_text())
        trajectories = {p.name: p.read_text() for p in run_dir.glob("*/baseline/*/*_001.txt")}
        runs[devices] = result, trajectories
    (one, one_files), (two, two_files) = runs[1], runs[2]
    assert len(one_files) == 3 and two_files == one_files
    for key in ("Accuracy", "Robustness", "EAO", "Failures"):
        assert two["metrics"][key] == one["metrics"][key]
