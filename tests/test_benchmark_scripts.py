"""The speed benchmarks (``benchmarks/*.py``) still run: each CPU smoke run prints its table and
writes its JSON rows. Nothing here is timed; the numbers are the scripts' business."""

from __future__ import annotations

import json

import pytest

from tests.cli import run_script

SMOKE_RUNS = {
    "tracking_fps.py": ["--frames", "2", "--warmup", "1", "--threads", "1"],
    "eval_walltime.py": ["--sequences", "2", "--frames", "4", "--batch-sizes", "2"],
    "train_throughput.py": [
        *("--steps", "1", "--warmup", "1", "--batch-size", "2", "--workers", "0"),
        *("--amp", "off", "--channels-last", "off"),
    ],
    "multi_gpu.py": [
        *("--devices", "1", "2", "--train-steps", "2", "--warmup", "1", "--batch-size", "4"),
        *("--workers", "0", "--sequences", "2", "--frames", "4"),
    ],
    "network_speed.py": [
        *("--backbones", "alexnet", "--batches", "1", "--x-size", "255"),
        *("--forms", "ref", "f32-grouped", "--repeats", "1", "--warmup", "0"),
        *("--train-batch", "1", "--train-forms", "fp32", "--profile"),
    ],
}
# rows of each table: per backbone x path, per mode, per backbone, per device count; the
# network tables: search per form, template per reference / fastest form, training per form
EXPECTED_ROWS = {
    "tracking_fps.py": [4],
    "eval_walltime.py": [3],
    "train_throughput.py": [2],
    "multi_gpu.py": [2],
    "network_speed.py": [2, 2, 1],
}


@pytest.mark.parametrize(
    "script",
    [s if s != "multi_gpu.py" else pytest.param(s, marks=pytest.mark.slow) for s in SMOKE_RUNS],
)
def test_benchmark_script_prints_its_table(script: str, tmp_path) -> None:
    out = tmp_path / "rows.json"
    proc = run_script(
        f"benchmarks/{script}",
        "--device",
        "cpu",
        *SMOKE_RUNS[script],
        "--out",
        str(out),
        cwd=tmp_path,
    )
    tables = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    expected = EXPECTED_ROWS[script]
    assert len(tables) == sum(1 + rows for rows in expected), proc.stdout  # headers + rows
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == sum(expected)
