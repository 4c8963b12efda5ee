"""The speed benchmarks (``benchmarks/*.py``) still run: each CPU smoke run prints its table and
writes its JSON rows. Nothing here is timed; the numbers are the scripts' business."""

from __future__ import annotations

import json

import pytest

from tests.cli import run_script

SMOKE_RUNS = {
    "tracking_fps.py": [
        *("--frames", "2", "--warmup", "1", "--threads", "1", "--sizes", "160x120"),
        *("--engine-options", "tracker.xcorr=unfold"),
    ],
    "eval_walltime.py": [
        *("--sequences", "2", "--frames", "4", "--size", "160x96", "--batch-sizes", "2"),
        *("--precisions", "float32", "--backbones", "alexnet", "--reference-sequences", "1"),
        *("--decode-frames", "8", "--decode-workers", "2"),
        *("--engine-options", "tracker.xcorr=unfold"),
    ],
    "lockstep_deviation.py": [
        *("--sequences", "2", "--frames", "5", "--size", "160x96", "--one-step-frames", "3"),
    ],
    "train_throughput.py": [
        *("--steps", "1", "--warmup", "1", "--batch-size", "2", "--workers", "0"),
        *("--amp", "off", "--channels-last", "off", "--backbones", "alexnet"),
        *("--data", "synthetic", "jpeg", "--paths", "reference", "device", "cache"),
        *("--jpeg-sequences", "2", "--jpeg-frames", "4", "--frame-size", "320", "240"),
    ],
    "train_startup.py": [
        *("--workers", "0", "--steps", "1", "--batch-size", "2"),
        *("--variants", "2"),
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
# rows of each printed table: per backbone x path; per data set x mode, decoders, profile phases;
# per sequence; per data x path (no cache of in-memory frames); per variant; per device count;
# the network tables: search per form, template per reference / fastest form, training per form.
EXPECTED_ROWS = {
    "tracking_fps.py": [4],
    "eval_walltime.py": [4, 2, 5],
    "lockstep_deviation.py": [2],
    "train_throughput.py": [5],
    "train_startup.py": [2],
    "multi_gpu.py": [2],
    "network_speed.py": [2, 2, 1],
}
ALL_TABLES_OUT = {"network_speed.py"}


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
    sections = proc.stdout.split("### ")[1:]  # tables, and profiles with no table
    tables = [section for section in sections if "\n| " in section]
    rows = [sum(line.startswith("| ") for line in table.splitlines()) - 1 for table in tables]
    assert rows == EXPECTED_ROWS[script], proc.stdout  # each table: header + rows
    # --out holds the first table's rows, or all tables' rows where they share one record
    out_rows = len(json.loads(out.read_text())["rows"])
    assert out_rows == (sum(rows) if script in ALL_TABLES_OUT else rows[0])
